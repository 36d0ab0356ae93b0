"""The `docker` backend: each run is a `docker exec` in a warm, locked-down, reused container."""

from rlvr.sandbox.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
