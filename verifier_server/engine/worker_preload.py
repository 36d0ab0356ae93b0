"""Imported once by the worker pool's fork server, so every worker starts with the verifiers loaded."""

from rlvr.verifier_server.engine.registry import list_verifiers

list_verifiers()
