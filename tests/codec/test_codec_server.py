"""The codec server speaks Temporal's remote codec protocol, answers the Web UI's CORS preflight, guards
encode and decode with an optional bearer token, and logs neither payload data nor the token."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from codec.keys import KEYS_ENV, CodecConfigError, generate_key, parse_key_ring
from codec.payload import ENCODING, METADATA_KEY_ID, EncryptionCodec
from codec.server import TOKEN_ENV, CodecServer, check_origin, load_token
from devstack.ports import free_port

REPO = Path(__file__).parents[2]
UI = "http://127.0.0.1:8233"
EMAIL = "dana.operator@example.com"
TOKEN = "s3cret-token-for-tests-only"


def to_json(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def from_json(body: str) -> list[Payload]:
    return list(json_format.Parse(body, Payloads()).payloads)


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec(parse_key_ring(generate_key("k1")))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def server(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    async with CodecServer(codec, cors_origins=[UI]) as running:
        yield running


@pytest.fixture
async def guarded(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    async with CodecServer(codec, cors_origins=[UI], token=TOKEN, access_log=True) as running:
        yield running


async def post(
    http: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str] | None = None
) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.post(url, data=body, headers={"Content-Type": "application/json", **(headers or {})}) as resp:
        return resp.status, await resp.text(), resp


async def test_encode_then_decode_round_trip(
    server: CodecServer, codec: EncryptionCodec, http: aiohttp.ClientSession
) -> None:
    plain = await pydantic_data_converter.encode([{"email": EMAIL}, "caption", 3, None])
    status, body, _ = await post(http, f"{server.url}/encode", to_json(plain))
    assert status == 200
    encrypted = from_json(body)
    assert len(encrypted) == 4
    assert all(p.metadata["encoding"] == ENCODING and p.metadata[METADATA_KEY_ID] == b"k1" for p in encrypted)
    assert EMAIL not in body
    assert await codec.decode(encrypted) == plain  # what the server encrypts, workers can read

    status, body, _ = await post(http, f"{server.url}/decode", body)
    assert status == 200
    assert from_json(body) == plain


async def test_decode_what_a_worker_wrote_and_pass_through_plain(
    server: CodecServer, codec: EncryptionCodec, http: aiohttp.ClientSession
) -> None:
    plain = await pydantic_data_converter.encode([{"email": EMAIL}, "old, unencrypted"])
    mixed = [*await codec.encode(plain[:1]), plain[1]]
    status, body, _ = await post(http, f"{server.url}/decode", to_json(mixed))
    assert status == 200
    assert from_json(body) == plain
    # the JSON mapping the Web UI reads: base64 metadata and data
    decoded = json.loads(body)["payloads"][0]
    assert decoded["metadata"]["encoding"] == "anNvbi9wbGFpbg=="  # json/plain


async def test_any_prefix_before_encode_and_decode(server: CodecServer, http: aiohttp.ClientSession) -> None:
    """Clients append /decode to the endpoint they were given, which may carry a path (a proxy's mount point)."""
    plain = await pydantic_data_converter.encode([EMAIL])
    status, body, _ = await post(http, f"{server.url}/reelmirror/default/encode", to_json(plain))
    assert status == 200
    status, body, _ = await post(http, f"{server.url}/reelmirror//decode", body)
    assert status == 200 and from_json(body) == plain
    for path in ("/", "/decoder", "/decode/", "/health"):
        status, _, _ = await post(http, f"{server.url}{path}", "{}")
        assert status in (404, 405), path
    async with http.options(f"{server.url}/x/decode", headers={"Origin": UI}) as resp:
        assert resp.status == 204
    async with http.options(f"{server.url}/x/other", headers={"Origin": UI}) as resp:
        assert resp.status == 404


async def test_empty_request_and_unknown_fields(server: CodecServer, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post(http, f"{server.url}/decode", "{}")
    assert (status, json.loads(body)) == (200, {})
    status, body, _ = await post(http, f"{server.url}/decode", '{"payloads": [], "extra": 1}')
    assert status == 200


async def test_undecryptable_payload_is_a_400_with_the_reason(server: CodecServer, http: aiohttp.ClientSession) -> None:
    foreign = EncryptionCodec(parse_key_ring(generate_key("retired")))
    encrypted = await foreign.encode(await pydantic_data_converter.encode([EMAIL]))
    status, body, _ = await post(http, f"{server.url}/decode", to_json(encrypted))
    assert status == 400
    assert "key id 'retired', which is not configured (configured: k1)" in json.loads(body)["error"]


async def test_bad_requests(server: CodecServer, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post(http, f"{server.url}/decode", "not json")
    assert status == 400 and "expected" in json.loads(body)["error"]
    status, _, _ = await post(http, f"{server.url}/decode", '{"payloads": [{"data": "!!not base64"}]}')
    assert status == 400
    async with http.post(f"{server.url}/decode", data="{}", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415  # a browser's "simple" request never reaches the codec
    async with http.get(f"{server.url}/decode") as resp:
        assert resp.status == 405


async def test_health(server: CodecServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/decode", "/encode"])
async def test_cors_preflight_from_the_web_ui(server: CodecServer, http: aiohttp.ClientSession, path: str) -> None:
    headers = {
        "Origin": UI,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with http.options(f"{server.url}{path}", headers=headers) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == UI
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"content-type", "x-namespace", "authorization"} <= allowed
        assert "Origin" in resp.headers["Vary"]


async def test_cors_on_the_actual_request(server: CodecServer, http: aiohttp.ClientSession) -> None:
    status, _, resp = await post(http, f"{server.url}/decode", "{}", {"Origin": UI, "X-Namespace": "default"})
    assert status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == UI
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"


async def test_other_origins_are_refused(server: CodecServer, http: aiohttp.ClientSession) -> None:
    evil = "http://evil.example"
    headers = {"Origin": evil, "Access-Control-Request-Method": "POST"}
    async with http.options(f"{server.url}/decode", headers=headers) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
    status, body, resp = await post(http, f"{server.url}/decode", "{}", {"Origin": evil})
    assert status == 403 and "--cors-origin" in json.loads(body)["error"]
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_token_required_and_accepted(guarded: CodecServer, http: aiohttp.ClientSession) -> None:
    url = f"{guarded.url}/decode"
    status, _, resp = await post(http, url, "{}")
    assert status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    for wrong in ("Bearer nope", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer "):
        status, _, _ = await post(http, url, "{}", {"Authorization": wrong})
        assert status == 401, wrong
    for right in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer  {TOKEN} "):
        status, _, _ = await post(http, url, "{}", {"Authorization": right})
        assert status == 200, right
    status, _, _ = await post(http, f"{guarded.url}/encode", "{}", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200


async def test_token_does_not_block_preflight_or_health(guarded: CodecServer, http: aiohttp.ClientSession) -> None:
    headers = {"Origin": UI, "Access-Control-Request-Method": "POST"}
    async with http.options(f"{guarded.url}/decode", headers=headers) as resp:
        assert resp.status == 204
    async with http.get(f"{guarded.url}/health") as resp:
        assert resp.status == 200
    # a 401 still carries CORS headers, so the UI can show it instead of a CORS failure
    status, _, resp = await post(http, f"{guarded.url}/decode", "{}", {"Origin": UI})
    assert status == 401 and resp.headers["Access-Control-Allow-Origin"] == UI


async def test_logs_hold_no_payload_data_or_token(
    guarded: CodecServer, codec: EncryptionCodec, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    plain = await pydantic_data_converter.encode([EMAIL])
    with caplog.at_level(logging.DEBUG):
        await post(http, f"{guarded.url}/encode", to_json(plain), auth)
        await post(http, f"{guarded.url}/decode", to_json(await codec.encode(plain)), auth)
        await post(http, f"{guarded.url}/decode", to_json(plain), {"Authorization": f"Bearer {TOKEN}-wrong"})
        await post(http, f"{guarded.url}/decode", f'{{"payloads": "{EMAIL}"}}', auth)
        foreign = EncryptionCodec(parse_key_ring(generate_key("other")))
        await post(http, f"{guarded.url}/decode", to_json(await foreign.encode(plain)), auth)
    assert "POST /decode" in caplog.text  # the access log is on
    assert "key id 'other'" in caplog.text
    for secret in (EMAIL, TOKEN, plain[0].data.decode()):
        assert secret not in caplog.text


def test_origin_checks() -> None:
    assert check_origin("http://127.0.0.1:8233/") == "http://127.0.0.1:8233"
    assert check_origin("https://UI.example.com") == "https://ui.example.com"
    for bad in ("*", "null", "127.0.0.1:8233", "http://127.0.0.1:8233/namespaces", "ftp://x"):
        with pytest.raises(CodecConfigError, match=r"--cors-origin .*like http://127\.0\.0\.1:8233"):
            check_origin(bad)


def test_token_settings(tmp_path: Path) -> None:
    assert load_token(None, {}) is None
    assert load_token(None, {TOKEN_ENV: f" {TOKEN}\n"}) == TOKEN
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o600)
    assert load_token(path, {}) == TOKEN
    with pytest.raises(CodecConfigError, match=f"both --token-file and {TOKEN_ENV} are set"):
        load_token(path, {TOKEN_ENV: TOKEN})
    with pytest.raises(CodecConfigError, match=f"{TOKEN_ENV}: the token must be printable ASCII without spaces"):
        load_token(None, {TOKEN_ENV: "two words"})
    path.write_text("\n")
    with pytest.raises(CodecConfigError, match=f"--token-file: {path} is empty"):
        load_token(path, {})
    with pytest.raises(CodecConfigError, match=f"--token-file: cannot read {tmp_path / 'nope'}: No such file"):
        load_token(tmp_path / "nope", {})
    path.chmod(0o666)
    with pytest.raises(CodecConfigError, match=r"--token-file: .* is writable by group or others"):
        load_token(path, {})


# --- the command line, as a subprocess ---


def cli_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "codec", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env or cli_env(), timeout=30, cwd=REPO)


def test_cli_keygen_prints_one_usable_key() -> None:
    result = run_cli("keygen", "--id", "prod-1")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert result.stdout.count("\n") == 1 and line.startswith("prod-1:")
    assert parse_key_ring(line).ids == ("prod-1",)
    checked = run_cli("check", env=cli_env(**{KEYS_ENV: f"{generate_key('new')},{line}"}))
    assert checked.returncode == 0, checked.stderr
    assert "encrypts with: new" in checked.stdout and "decrypts: new, prod-1" in checked.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("serve",), {}, "error: no encryption key: set REELMIRROR_CODEC_KEYS"),
        (("serve", "--cors-origin", "*"), {KEYS_ENV: "GEN"}, "error: --cors-origin '*': give the Web UI's origin"),
        (("serve", "--port", "70000"), {KEYS_ENV: "GEN"}, "error: --port 70000: choose a port between 0 and 65535"),
        (("keygen", "--id", "a:b"), {}, "error: --id: key id contains ':'"),
    ],
)
def test_cli_refuses_bad_settings_with_one_line(args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    env = {name: generate_key("k") if value == "GEN" else value for name, value in env.items()}
    result = run_cli(*args, env=cli_env(**env))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message), result.stderr
    assert "Traceback" not in result.stderr


def test_cli_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--quiet", env=cli_env(**{KEYS_ENV: generate_key("k")}))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "stop what runs there or choose another --port/--host"
    )


async def test_cli_serves_until_sigterm(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    key = generate_key("k")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codec", "serve", "--port", str(port), "--token-file", str(token_file),
        "--cors-origin", UI,
        env=cli_env(**{KEYS_ENV: key}), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(20):
            while not await healthy(http, url):
                assert proc.returncode is None, "the codec server exited"
                await asyncio.sleep(0.1)
        plain = await pydantic_data_converter.encode([EMAIL])
        sealed = await EncryptionCodec(parse_key_ring(key)).encode(plain)
        status, body, _ = await post(http, f"{url}/decode", to_json(sealed), {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and from_json(body) == plain
        status, _, _ = await post(http, f"{url}/decode", to_json(sealed))
        assert status == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            out, err = (stream.decode() for stream in await proc.communicate())
    assert proc.returncode == 0, err
    assert f"codec server on {url}" in err and "bearer token required" in err and "stopped" in err
    for secret in (TOKEN, EMAIL, key.partition(":")[2]):
        assert secret not in out + err


async def healthy(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(f"{url}/health") as resp:
            return resp.status == 200
    except aiohttp.ClientConnectionError:
        return False
