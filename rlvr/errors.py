"""The base of every error rlvr raises on purpose; it imports nothing, so every layer can derive from it."""


class RlvrError(Exception):
    """Base class of every error rlvr raises on purpose (catch it to catch them all)."""
