from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    CORRECT: _ClassVar[Status]
    INCORRECT: _ClassVar[Status]
    PARTIAL: _ClassVar[Status]
    TIMEOUT: _ClassVar[Status]
    ERROR: _ClassVar[Status]
    INVALID_REQUEST: _ClassVar[Status]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    OK: _ClassVar[Verdict]
    WRONG_ANSWER: _ClassVar[Verdict]
    TIME_LIMIT: _ClassVar[Verdict]
    MEMORY_LIMIT: _ClassVar[Verdict]
    OUTPUT_LIMIT: _ClassVar[Verdict]
    RUNTIME_ERROR: _ClassVar[Verdict]
    COMPILE_ERROR: _ClassVar[Verdict]
    SANDBOX_ERROR: _ClassVar[Verdict]
    SKIPPED: _ClassVar[Verdict]
STATUS_UNSPECIFIED: Status
CORRECT: Status
INCORRECT: Status
PARTIAL: Status
TIMEOUT: Status
ERROR: Status
INVALID_REQUEST: Status
VERDICT_UNSPECIFIED: Verdict
OK: Verdict
WRONG_ANSWER: Verdict
TIME_LIMIT: Verdict
MEMORY_LIMIT: Verdict
OUTPUT_LIMIT: Verdict
RUNTIME_ERROR: Verdict
COMPILE_ERROR: Verdict
SANDBOX_ERROR: Verdict
SKIPPED: Verdict

class StdioTest(_message.Message):
    __slots__ = ("input", "output")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    input: str
    output: str
    def __init__(self, input: _Optional[str] = ..., output: _Optional[str] = ...) -> None: ...

class CallTest(_message.Message):
    __slots__ = ("function", "args", "expected", "kwargs")
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    KWARGS_FIELD_NUMBER: _ClassVar[int]
    function: str
    args: _struct_pb2.ListValue
    expected: _struct_pb2.Value
    kwargs: _struct_pb2.Struct
    def __init__(self, function: _Optional[str] = ..., args: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., expected: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., kwargs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ScriptTest(_message.Message):
    __slots__ = ("code",)
    CODE_FIELD_NUMBER: _ClassVar[int]
    code: str
    def __init__(self, code: _Optional[str] = ...) -> None: ...

class TestCase(_message.Message):
    __slots__ = ("stdio", "call", "script", "name")
    STDIO_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    stdio: StdioTest
    call: CallTest
    script: ScriptTest
    name: str
    def __init__(self, stdio: _Optional[_Union[StdioTest, _Mapping]] = ..., call: _Optional[_Union[CallTest, _Mapping]] = ..., script: _Optional[_Union[ScriptTest, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class TestResult(_message.Message):
    __slots__ = ("name", "verdict", "message", "elapsed_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    verdict: Verdict
    message: str
    elapsed_seconds: float
    def __init__(self, name: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., message: _Optional[str] = ..., elapsed_seconds: _Optional[float] = ...) -> None: ...

class RewardTerm(_message.Message):
    __slots__ = ("name", "verifier", "weight", "options", "accuracy_term", "gate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_TERM_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    verifier: str
    weight: float
    options: _struct_pb2.Struct
    accuracy_term: str
    gate: str
    def __init__(self, name: _Optional[str] = ..., verifier: _Optional[str] = ..., weight: _Optional[float] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., accuracy_term: _Optional[str] = ..., gate: _Optional[str] = ...) -> None: ...

class RewardSpec(_message.Message):
    __slots__ = ("name", "terms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    terms: _containers.RepeatedCompositeFieldContainer[RewardTerm]
    def __init__(self, name: _Optional[str] = ..., terms: _Optional[_Iterable[_Union[RewardTerm, _Mapping]]] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("id", "verifier", "response", "ground_truth", "tests", "language", "options", "reward_spec", "group_id", "response_tokens", "prompt", "timeout_seconds", "group_size")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    GROUND_TRUTH_FIELD_NUMBER: _ClassVar[int]
    TESTS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REWARD_SPEC_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    verifier: str
    response: str
    ground_truth: str
    tests: _containers.RepeatedCompositeFieldContainer[TestCase]
    language: str
    options: _struct_pb2.Struct
    reward_spec: RewardSpec
    group_id: str
    response_tokens: int
    prompt: str
    timeout_seconds: float
    group_size: int
    def __init__(self, id: _Optional[str] = ..., verifier: _Optional[str] = ..., response: _Optional[str] = ..., ground_truth: _Optional[str] = ..., tests: _Optional[_Iterable[_Union[TestCase, _Mapping]]] = ..., language: _Optional[str] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., reward_spec: _Optional[_Union[RewardSpec, _Mapping]] = ..., group_id: _Optional[str] = ..., response_tokens: _Optional[int] = ..., prompt: _Optional[str] = ..., timeout_seconds: _Optional[float] = ..., group_size: _Optional[int] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("id", "reward", "status", "components", "message", "elapsed_seconds", "verifier", "verifier_version", "test_results")
    class ComponentsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEST_RESULTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    reward: float
    status: Status
    components: _containers.ScalarMap[str, float]
    message: str
    elapsed_seconds: float
    verifier: str
    verifier_version: str
    test_results: _containers.RepeatedCompositeFieldContainer[TestResult]
    def __init__(self, id: _Optional[str] = ..., reward: _Optional[float] = ..., status: _Optional[_Union[Status, str]] = ..., components: _Optional[_Mapping[str, float]] = ..., message: _Optional[str] = ..., elapsed_seconds: _Optional[float] = ..., verifier: _Optional[str] = ..., verifier_version: _Optional[str] = ..., test_results: _Optional[_Iterable[_Union[TestResult, _Mapping]]] = ...) -> None: ...

class VerifyBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[VerifyRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[VerifyRequest, _Mapping]]] = ...) -> None: ...

class VerifyBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[VerifyResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[VerifyResponse, _Mapping]]] = ...) -> None: ...

class ListVerifiersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifierInfo(_message.Message):
    __slots__ = ("name", "version", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListVerifiersResponse(_message.Message):
    __slots__ = ("verifiers",)
    VERIFIERS_FIELD_NUMBER: _ClassVar[int]
    verifiers: _containers.RepeatedCompositeFieldContainer[VerifierInfo]
    def __init__(self, verifiers: _Optional[_Iterable[_Union[VerifierInfo, _Mapping]]] = ...) -> None: ...
