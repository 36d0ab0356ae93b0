"""Security: bearer token on every verifier RPC and on the gateway, TLS, message size limits."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from server_testkit import RunningServer, echo, free_port

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.service.client import NO_RETRY, Client

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded():
    running = RunningServer(token=TOKEN, http_port=free_port())
    yield running
    running.close()


@pytest.mark.parametrize("token", [None, "wrong"])
def test_calls_without_the_right_token_are_unauthenticated(guarded, token):
    with Client(guarded.target, token=token, retry=NO_RETRY) as client:
        for call in (
            lambda: client.verify(echo("a")),
            lambda: client.verify_batch([echo("a"), echo("b")]),
            lambda: list(client.stream([echo("a")])),
            lambda: client.list_verifiers(),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "Bearer" in caught.value.details()


def test_calls_with_the_token_are_served(guarded):
    with Client(guarded.target, token=TOKEN) as client:
        assert client.verify(echo("a")).status == pb.CORRECT
        assert [r.id for r in client.stream([echo("s1"), echo("s2")])] in (["s1", "s2"], ["s2", "s1"])


def test_health_needs_no_token_so_probes_work(guarded):
    with grpc.insecure_channel(guarded.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_gateway_needs_the_token_too(guarded):
    url = f"http://127.0.0.1:{guarded.server.http_port}/verify"
    body = json.dumps(echo("h")).encode()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10)
    assert caught.value.code == 401
    request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert json.loads(reply.read())["status"] == "CORRECT"


def test_messages_over_the_size_limit_are_refused(make_server):
    running = make_server(max_message_mb=1)
    with Client(running.target, retry=NO_RETRY) as client:
        with pytest.raises(grpc.RpcError) as caught:
            client.verify(echo("big", response="x" * (2 * 1024 * 1024)))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert client.verify(echo("small")).status == pb.CORRECT


def _self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl cannot make a test certificate: {exc}")
    return cert, key


def test_tls_server_serves_tls_clients_and_refuses_plaintext(make_server, tmp_path):
    cert, key = _self_signed(tmp_path)
    running = make_server(tls_cert=str(cert), tls_key=str(key))
    with Client(running.target, tls=str(cert)) as client:
        assert client.verify(echo("secure")).status == pb.CORRECT
    with (
        Client(running.target, retry=NO_RETRY, timeout=5) as plaintext,
        pytest.raises(grpc.RpcError) as caught,
    ):
        plaintext.verify(echo("plain"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
