"""Connecting to Temporal the same way in the worker, the CLI, the demo, the benches and the tests.

Address, namespace, TLS and API key come from temporalio's environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, TEMPORAL_API_KEY, the config file), so pointing the product at a
Temporal cluster or Temporal Cloud is configuration, not code. The payload codec comes from the
environment too, and it is required: a process without the key would write plaintext into history (or
fail to read what the others wrote), so one without it refuses to start unless `REELMIRROR_CODEC=off`
says plaintext is wanted.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from codec import CodecConfigError, codec_from_env, data_converter
from codec.keys import KEY_FILE_ENV, KEYS_ENV
from observability.settings import CONNECT_TIMEOUT_ENV

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_TASK_QUEUE = "reelmirror"
CODEC_ENV = "REELMIRROR_CODEC"
_OFF = {"off", "0", "false", "no"}
_ON = {"", "on", "1", "true", "yes"}

logger = logging.getLogger("control.connection")


class TemporalUnreachableError(RuntimeError):
    """Temporal did not answer within the connect timeout; the message is one line with the address."""


def task_queue(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get("REELMIRROR_TASK_QUEUE", DEFAULT_TASK_QUEUE)


def connect_config(profile: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keyword arguments for `Client.connect`, from the profile and the environment."""
    env = dict(os.environ if env is None else env)
    profile = profile or env.get("TEMPORAL_PROFILE")
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile, override_env_vars=env))
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


def codec_enabled(env: Mapping[str, str] | None = None) -> bool:
    """`REELMIRROR_CODEC`: on (default) or off; anything else is one line naming the variable."""
    env = os.environ if env is None else env
    value = env.get(CODEC_ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise CodecConfigError(f"{CODEC_ENV}: must be on or off")


def converter_from_env(env: Mapping[str, str] | None = None) -> DataConverter:
    """The pydantic converter with payload encryption (failures included) from the key settings.

    Raises `CodecConfigError` (one line naming the setting) for a missing or bad key, or for a key set
    while `REELMIRROR_CODEC=off`.
    """
    env = os.environ if env is None else env
    if not codec_enabled(env):
        if env.get(KEYS_ENV, "").strip() or env.get(KEY_FILE_ENV, "").strip():
            raise CodecConfigError(f"{CODEC_ENV}=off but an encryption key is set; unset one of them")
        return data_converter(None)
    try:
        codec = codec_from_env(env, required=True)
    except CodecConfigError as exc:
        if str(exc).startswith("no encryption key"):
            raise CodecConfigError(f"{exc}; or set {CODEC_ENV}=off to store payloads unencrypted") from None
        raise
    return data_converter(codec, encrypt_failures=True)


async def connect(
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    tracing: bool = True,
    runtime: Runtime | None = None,
    converter: DataConverter | None = None,
) -> Client:
    """A client with the project's converter (pydantic, encrypted; `converter_from_env` unless given) and
    OTel tracing. Raises `CodecConfigError` for a bad key setting before it dials anything.
    """
    converter = converter or converter_from_env(env)
    interceptors = [TracingInterceptor()] if tracing else []
    return await Client.connect(
        **connect_config(profile, env), data_converter=converter, interceptors=interceptors, runtime=runtime
    )


def unreachable_reason(exc: BaseException) -> str | None:
    """A short reason when `exc` says Temporal could not be reached (worth waiting for), else None."""
    if isinstance(exc, RPCError):
        return exc.message if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED) else None
    text = str(exc)
    if not isinstance(exc, RuntimeError) or "Failed client connect" not in text:
        return None
    found = re.search(r'message: "([^"]+)"', text) or re.search(r'ConnectError\("([^"]+)"', text)
    return found.group(1) if found else text.removeprefix("Failed client connect: ")[:200]


async def connect_with_retry(
    deadline_seconds: float,
    env: Mapping[str, str] | None = None,
    *,
    tracing: bool = True,
    runtime: Runtime | None = None,
    converter: DataConverter | None = None,
    first_delay: float = 0.5,
    max_delay: float = 10.0,
) -> Client:
    """`connect`, waiting for a Temporal that is not up yet: one log line per try, backoff, a deadline.

    So the worker may start before the server (a compose file, a restart of both). Only "cannot reach"
    is waited for; a bad key, TLS or API key setting fails at once.
    """
    address = connect_config(env=env)["target_host"]
    converter = converter or converter_from_env(env)
    deadline = time.monotonic() + deadline_seconds
    delay = first_delay
    attempt = 1
    while True:
        try:
            return await connect(env=env, tracing=tracing, runtime=runtime, converter=converter)
        except (RuntimeError, RPCError) as exc:
            reason = unreachable_reason(exc)
            if reason is None:
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TemporalUnreachableError(
                    f"Temporal at {address} did not answer within {deadline_seconds:g} s ({reason}); "
                    f"check TEMPORAL_ADDRESS, or raise {CONNECT_TIMEOUT_ENV}"
                ) from None
            wait = min(delay, remaining)
            logger.warning(
                "Temporal at %s is not reachable (try %d: %s); next try in %.1f s", address, attempt, reason, wait
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, max_delay)
            attempt += 1
