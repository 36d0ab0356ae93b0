"""Conversions between the contract's messages and their dict / JSON forms."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

from google.protobuf import json_format

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.errors import InvalidRequest

RequestLike: TypeAlias = pb.VerifyRequest | dict[str, Any] | str | bytes


def to_request(obj: RequestLike) -> pb.VerifyRequest:
    """Accept a VerifyRequest, its dict form or its JSON text (proto JSON mapping); raise InvalidRequest."""
    if isinstance(obj, pb.VerifyRequest):
        return obj
    if isinstance(obj, bytes):
        try:
            obj = obj.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"request is not valid UTF-8: {exc}") from None
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"request is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidRequest(f"a request must be a JSON object, got {type(obj).__name__}")
    if isinstance(obj.get("id"), int) and not isinstance(obj["id"], bool):
        obj = {**obj, "id": str(obj["id"])}  # a numeric id is a common slip; echo it as text
    try:
        return json_format.ParseDict(obj, pb.VerifyRequest())
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"request does not match rlvr.verifier.v1.VerifyRequest: {exc}") from None


def plain(value: Any) -> Any:
    """Undo protobuf's number widening: Struct/Value keep only doubles, so 3 arrives as 3.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def options_dict(struct: Any) -> dict[str, Any]:
    """A google.protobuf.Struct as a plain dict, integral numbers as int."""
    return plain(json_format.MessageToDict(struct)) if struct.ListFields() else {}


def response_to_dict(response: pb.VerifyResponse) -> dict[str, Any]:
    """The proto JSON mapping of a response, every field present (reward 0.0 included), in field order."""
    mapped = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
    return {f.json_name: mapped[f.json_name] for f in response.DESCRIPTOR.fields if f.json_name in mapped}


def response_to_json(response: pb.VerifyResponse) -> str:
    return json.dumps(response_to_dict(response), ensure_ascii=False)


def request_to_dict(request: pb.VerifyRequest) -> dict[str, Any]:
    return json_format.MessageToDict(request)
