"""Helpers of the server tests: a real `VerifierServer` on a free loopback port, and request builders."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import Future
from typing import Any

from rlvr.verifier_server.service.config import ServerConfig
from rlvr.verifier_server.service.server import VerifierServer

PLUGIN = "rlvr_test_verifiers"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def echo(request_id: str, response: str = "x", ground_truth: str = "x") -> dict[str, Any]:
    return {"id": request_id, "verifier": "srv_echo", "response": response, "ground_truth": ground_truth}


def sleep(request_id: str, seconds: float, **options: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "verifier": "srv_sleep",
        "response": request_id,
        "options": {"seconds": seconds, **options},
    }


class RunningServer:
    """A VerifierServer running on its own event-loop thread; `call` runs a coroutine on that loop."""

    def __init__(self, **settings: Any):
        settings = {"port": 0, "workers": 2, "plugins": [PLUGIN], "grace_seconds": 5.0, **settings}
        self.config = ServerConfig(**settings)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server: VerifierServer = self.call(self._create())
        self.target = f"127.0.0.1:{self.server.port}"
        self.http = f"http://127.0.0.1:{self.server.http_port}"

    async def _create(self) -> VerifierServer:
        server = VerifierServer(self.config)
        await server.start()
        return server

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Any) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, grace: float | None = None) -> None:
        self.call(self.server.stop(grace))

    def close(self) -> None:
        self.stop(0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
