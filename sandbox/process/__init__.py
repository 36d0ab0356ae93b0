"""The `process` backend: bubblewrap (or `unshare`) namespaces, rlimits, a uid per slot, seccomp and a memory cgroup."""

from rlvr.sandbox.process.backend import ProcessBackend

__all__ = ["ProcessBackend"]
