"""The generated code must match verifier.proto."""

from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from rlvr.verifier.v1 import verifier_pb2

PROTOS = Path(__file__).resolve().parents[2] / "protos"


def test_generated_python_matches_the_proto(tmp_path):
    protoc = pytest.importorskip("grpc_tools.protoc")
    include = Path(protoc.__file__).resolve().parent / "_proto"
    out = tmp_path / "descriptor.pb"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTOS}",
            f"-I{include}",
            f"--descriptor_set_out={out}",
            "rlvr/verifier/v1/verifier.proto",
        ]
    )
    assert code == 0
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(fresh.message_type)  # protoc's descriptor set adds them; the embedded one does not
    shipped = descriptor_pb2.FileDescriptorProto()
    verifier_pb2.DESCRIPTOR.CopyToProto(shipped)
    assert fresh == shipped, "generated code is stale: run `python protos/generate.py`"


def _drop_json_names(messages) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


def test_statuses_that_mean_unknown_are_distinct_from_incorrect():
    names = set(verifier_pb2.Status.keys())
    assert {"CORRECT", "INCORRECT", "PARTIAL", "TIMEOUT", "ERROR", "INVALID_REQUEST"} <= names
