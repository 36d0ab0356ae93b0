"""Warm containers pooled by shape, at most `max_containers`, each checked out to one run at a time."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator

from rlvr.sandbox.docker.api import Engine
from rlvr.sandbox.docker.cleanup import cleanup
from rlvr.sandbox.docker.containers import Container, ContainerShape, remove_container, start_container


class Pool:
    """Warm containers by shape; a checked-out container runs one run at a time."""

    def __init__(self, engine: Engine, image: str, max_containers: int, cpus: float) -> None:
        self.engine = engine
        self.image = image
        self.max_containers = max_containers
        self.cpus = cpus
        self.idle: list[Container] = []
        self.busy = 0
        self.lock = threading.Condition()
        self.names = 0
        self.pid = os.getpid()
        self.owner = f"{socket.gethostname()}:{self.pid}"

    @contextlib.contextmanager
    def checkout(self, shape: ContainerShape) -> Iterator[Container]:
        """A warm container of `shape`, started if needed; it is removed afterwards if marked broken."""
        container = self._take(shape)
        try:
            if container is None:
                container = self._create(shape)
            yield container
        except BaseException:
            if container is not None:
                container.broken = True
            raise
        finally:
            with self.lock:
                self.busy -= 1
                if container is not None and not container.broken:
                    self.idle.append(container)
                self.lock.notify()
            if container is not None and container.broken:
                remove_container(self.engine, container)

    def _take(self, shape: ContainerShape) -> Container | None:
        """An idle container of `shape`, or None when the caller may create one (after making room)."""
        with self.lock:
            while True:
                for i, container in enumerate(self.idle):
                    if container.shape == shape:
                        self.busy += 1
                        return self.idle.pop(i)
                if self.busy + len(self.idle) < self.max_containers:
                    self.busy += 1
                    return None
                if self.idle:  # full of other shapes: evict the least recently used one
                    evicted = self.idle.pop(0)
                    self.busy += 1
                    break
                self.lock.wait()
        remove_container(self.engine, evicted)
        return None

    def _create(self, shape: ContainerShape) -> Container:
        with self.lock:
            self.names += 1
            name = f"rlvr-sandbox-{self.pid}-{self.names}"
        container = start_container(
            self.engine, self.image, shape, cpus=self.cpus, owner=self.owner, name=name
        )
        try:
            first = cleanup(self.engine, container, ())  # proves the container works; baseline counters
            if not first.ok:
                raise RuntimeError(f"new sandbox container {name} does not work: {first.error}")
            container.usage_since_last(first.cpu_ns, first.oom_kills)
        except BaseException:
            remove_container(self.engine, container)
            raise
        return container

    def close(self) -> None:
        """Remove the idle containers; in a forked child, nothing (they are its parent's)."""
        if os.getpid() != self.pid:
            return
        with self.lock:
            idle, self.idle = self.idle, []
        for container in idle:
            remove_container(self.engine, container)
