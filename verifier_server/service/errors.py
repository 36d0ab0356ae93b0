"""Errors of the service itself, as opposed to a request's (those are in `engine.errors`)."""

from rlvr.errors import RlvrError


class PortUnavailable(RlvrError, OSError):
    """The service cannot listen on a port it was told to use (taken by another process, or not allowed)."""

    def __init__(self, what: str, host: str, port: int, option: str, cause: object = None):
        detail = f" ({cause})" if cause else ""
        super().__init__(
            f"cannot listen on {host}:{port} for {what}{detail}: another process may hold it; "
            f"stop it or choose another port with {option} (0 picks a free one)"
        )
        self.host, self.port = host, port
