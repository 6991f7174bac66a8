"""Connecting to Temporal the same way in the worker, the CLI, the demo and the tests.

Address, namespace, TLS and API key come from temporalio's environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, TEMPORAL_API_KEY, the config file), so pointing the product at a
Temporal cluster or Temporal Cloud is configuration, not code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_TASK_QUEUE = "reelmirror"


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


async def connect(
    profile: str | None = None, env: Mapping[str, str] | None = None, *, tracing: bool = True
) -> Client:
    """A client with the pydantic converter (the payload format of every workflow here) and OTel tracing."""
    interceptors = [TracingInterceptor()] if tracing else []
    return await Client.connect(
        **connect_config(profile, env), data_converter=pydantic_data_converter, interceptors=interceptors
    )
