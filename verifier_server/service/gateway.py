"""HTTP/JSON gateway (`--http-port`): the Verify RPCs for clients without gRPC, in the proto JSON mapping."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from aiohttp import web

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.core import invalid_response
from rlvr.verifier_server.engine.errors import InvalidRequest
from rlvr.verifier_server.engine.messages import response_to_dict, to_request
from rlvr.verifier_server.service import reward_protocols
from rlvr.verifier_server.service.config import ServerConfig
from rlvr.verifier_server.service.execution import Dispatcher, Overloaded

#: How long a `/get_reward` call waits for queue room before answering 429.
_REWARD_ADMIT_SECONDS = 30.0


class Gateway:
    """aiohttp app on the server's event loop, sharing its dispatcher (queue, lanes, workers).

    - `POST /verify`: body a VerifyRequest as JSON; answer a VerifyResponse as JSON.
    - `POST /verify_batch`: body `{"requests": [...]}`; answer `{"responses": [...]}`, same order.
    - `GET /verifiers`: `{"verifiers": [{"name", "version", "description"}, ...]}`.
    - `GET /healthz`: 200 while serving, 503 while draining.
    - `POST /get_reward`: OpenRLHF's remote reward protocol (`{"query", "prompts", "labels"}` →
      `{"rewards", "scores", "extra_logs"}`, installed by `rlvr.integrations.openrlhf`); `?spec=NAME` picks a
      registered spec. Its many one-sample requests wait up to 30 s for queue room instead of 429.

    A request that is JSON but not a valid VerifyRequest is answered (HTTP 200) with status
    INVALID_REQUEST, like the RPCs. HTTP errors: 400 body not JSON / batch shape or size, 401 bearer
    token missing or wrong (when the server has one), 413 body over `max_message_mb`, 429 queue full
    (retry with backoff). A client that disconnects cancels its work.
    """

    def __init__(self, dispatcher: Dispatcher, config: ServerConfig):
        self._dispatcher = dispatcher
        self._config = config
        self._runner: web.AppRunner | None = None
        self._serving = False
        app = web.Application(client_max_size=config.max_message_mb * 1024 * 1024, middlewares=[self._auth])
        app.add_routes(
            [
                web.post("/verify", self._verify),
                web.post("/verify_batch", self._verify_batch),
                web.get("/verifiers", self._verifiers),
                web.get("/healthz", self._healthz),
                web.post("/get_reward", self._get_reward),
            ]
        )
        self._app = app
        self._reward_protocols: dict[str, Any] = {}

    async def start(self) -> int:
        """Listen on (config.host, config.http_port); return the bound port."""
        self._runner = web.AppRunner(
            self._app, handler_cancellation=True, access_log=None, shutdown_timeout=self._config.grace_seconds
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._config.host, self._config.http_port)
        await site.start()
        self._serving = True
        return self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Refuse new work (healthz 503), let requests in flight finish for up to `grace_seconds`, close."""
        self._serving = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        token = self._config.token
        if token and request.path != "/healthz":
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, f"Bearer {token}".encode()):
                raise web.HTTPUnauthorized(
                    text="missing or wrong bearer token: send `Authorization: Bearer <token>`"
                )
        return await handler(request)

    async def _json_body(self, request: web.Request) -> Any:
        try:
            return json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as exc:
            raise web.HTTPBadRequest(text=f"body is not valid JSON: {exc}") from None

    async def _answer(self, items: list[Any]) -> list[dict[str, Any]]:
        """Verify raw JSON items; malformed ones are answered INVALID_REQUEST without reaching the core."""
        responses: list[pb.VerifyResponse | None] = [None] * len(items)
        valid: list[tuple[int, pb.VerifyRequest]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, to_request(item)))
            except InvalidRequest as exc:
                responses[index] = invalid_response(item, str(exc))
        if valid:
            try:
                self._dispatcher.try_admit(len(valid))
            except Overloaded as exc:
                raise web.HTTPTooManyRequests(text=str(exc), headers={"Retry-After": "1"}) from None
            for (index, _), response in zip(valid, await self._dispatcher.run([r for _, r in valid])):
                responses[index] = response
        return [response_to_dict(r) for r in responses if r is not None]

    async def _verify(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        return web.json_response((await self._answer([body]))[0])

    async def _verify_batch(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise web.HTTPBadRequest(text='body must be {"requests": [VerifyRequest JSON, ...]}')
        if len(items) > self._config.max_batch:
            raise web.HTTPBadRequest(
                text=f"batch of {len(items)} exceeds max_batch={self._config.max_batch}; split it"
            )
        return web.json_response({"responses": await self._answer(items)})

    async def _get_reward(self, request: web.Request) -> web.Response:
        gateway_protocol = reward_protocols.installed()
        if gateway_protocol is None:
            raise web.HTTPNotFound(
                text="no /get_reward protocol installed: `import rlvr.integrations.openrlhf` before serving"
            )
        body = await self._json_body(request)
        key = request.query_string
        try:
            protocol = self._reward_protocols.get(key)
            if protocol is None:
                protocol = gateway_protocol(request.query)
                if len(self._reward_protocols) < 64:
                    self._reward_protocols[key] = protocol
            items = protocol.requests(body)
        except (InvalidRequest, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if len(items) > min(self._config.max_batch, self._config.max_queue):
            raise web.HTTPBadRequest(text=f"{len(items)} samples exceed max_batch/max_queue; split them")
        try:
            await asyncio.wait_for(self._dispatcher.admit(len(items)), _REWARD_ADMIT_SECONDS)
        except TimeoutError:
            raise web.HTTPTooManyRequests(
                text="server queue full; retry", headers={"Retry-After": "1"}
            ) from None
        return web.json_response(protocol.answer(await self._dispatcher.run(items)))

    async def _verifiers(self, request: web.Request) -> web.Response:
        infos = await asyncio.to_thread(registry.list_verifiers)
        return web.json_response(
            {
                "verifiers": [
                    {"name": i.name, "version": i.version, "description": i.description} for i in infos
                ]
            }
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        if self._serving:
            return web.Response(text="SERVING")
        return web.Response(status=503, text="NOT_SERVING")
