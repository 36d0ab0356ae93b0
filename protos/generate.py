"""Regenerate the Python code for the verifier contract: `python protos/generate.py [OUT_DIR]`."""

import sys
from pathlib import Path

from grpc_tools import protoc

PROTOS = Path(__file__).resolve().parent
PROTO_FILE = "rlvr/verifier/v1/verifier.proto"


def generate(out_dir: Path = PROTOS) -> None:
    """Write verifier_pb2.py, verifier_pb2.pyi and verifier_pb2_grpc.py under `out_dir`."""
    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        PROTO_FILE,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {PROTO_FILE}")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTOS)
