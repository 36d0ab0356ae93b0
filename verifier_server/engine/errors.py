"""Typed errors of the verifier service."""


class RlvrError(Exception):
    """Base class of every error rlvr raises on purpose."""


class InvalidRequest(RlvrError, ValueError):
    """The request is malformed: unknown verifier, missing field, bad option. Answered as INVALID_REQUEST."""


class UnknownVerifier(InvalidRequest):
    """No verifier is registered under the requested name."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown verifier {name!r}; registered verifiers: {', '.join(sorted(known))}")
        self.name = name


class PortUnavailable(RlvrError, OSError):
    """The service cannot listen on a port it was told to use (taken by another process, or not allowed)."""

    def __init__(self, what: str, host: str, port: int, option: str, cause: object = None):
        detail = f" ({cause})" if cause else ""
        super().__init__(
            f"cannot listen on {host}:{port} for {what}{detail}: another process may hold it; "
            f"stop it or choose another port with {option} (0 picks a free one)"
        )
        self.host, self.port = host, port
