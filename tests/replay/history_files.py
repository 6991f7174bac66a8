"""The saved workflow histories under `histories/`: loading them, and checking that none holds a secret.

Shared by the replay tests and the recorder (`record_histories.py`), so the rule "no secret in a saved
history" is the same one the recorder enforces before it writes a file and the test checks on every run.

Payloads in a history JSON are base64 (the pydantic converter's JSON inside `data`), so a plain text search
would miss a secret in an activity input or result: every payload is decoded and searched as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory

HISTORIES_DIR = Path(__file__).resolve().parent / "histories"

# What must never appear: an rm_ API key, a JWT (Supabase session), a Stripe secret key or client secret,
# a payment method id. Built at runtime so this file holds no literal that looks like a key.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "rm_ API key": re.compile("rm_" + r"[A-Za-z0-9]{16,}"),
    "JWT": re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+"),
    "Stripe client secret": re.compile(r"_secret_[A-Za-z0-9]{6,}"),
    "Stripe secret key": re.compile("sk_" + r"(test|live)_\w+"),
    "payment method id": re.compile(r"\bpm_\w+"),
}
# Keys of a decoded payload that would mean a secret was passed by value rather than by reference.
SECRET_KEYS = frozenset(
    {"password", "jwt", "access_token", "refresh_token", "api_key", "client_secret", "payment_method", "secret"}
)
# Absolute paths of the machine that recorded (stack traces carry them; the recorder blanks those).
MACHINE_PATH = re.compile(r"(?<![\w.])/(work|tmp|home|root|Users|var/folders)/")


def history_files(directory: Path = HISTORIES_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def workflow_id_of(path: Path) -> str:
    """Files are named after their workflow id."""
    return path.stem


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id_of(path), path.read_text())


def load_histories(directory: Path = HISTORIES_DIR) -> list[WorkflowHistory]:
    return [load_history(path) for path in history_files(directory)]


def workflow_type(history: WorkflowHistory) -> str:
    """The workflow type named in the history's first event."""
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def payload_texts(node: Any) -> Iterator[str]:
    """The decoded `data` of every payload in a history JSON document (anything with metadata and data)."""
    if isinstance(node, dict):
        if "metadata" in node and isinstance(node.get("data"), str):
            try:
                yield base64.b64decode(node["data"], validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                yield node["data"]
        for value in node.values():
            yield from payload_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from payload_texts(item)


def _without_payload_data(node: Any) -> Any:
    """The document with every payload's base64 `data` left out (base64 of JSON always starts `eyJ`)."""
    if isinstance(node, dict):
        is_payload = "metadata" in node and isinstance(node.get("data"), str)
        return {k: _without_payload_data(v) for k, v in node.items() if not (is_payload and k == "data")}
    if isinstance(node, list):
        return [_without_payload_data(item) for item in node]
    return node


def _keys(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def secret_findings(document: dict[str, Any], known_secrets: Iterable[str] = ()) -> list[str]:
    """What in one history looks like (or is) a secret; empty when it is clean.

    Searched: the history JSON (without the payloads' base64) and every decoded payload. `known_secrets`
    are exact values (the recorder passes what the worker's secret store holds). Findings name the kind
    of secret and where, never the value.
    """
    decoded = list(payload_texts(document))
    texts = [("the history JSON", json.dumps(_without_payload_data(document)))] + [("a payload", t) for t in decoded]
    findings = [
        f"{name} in {where}"
        for name, pattern in SECRET_PATTERNS.items()
        for where, text in texts
        if pattern.search(text)
    ]
    findings += [f"eyJ (a JWT's start) in {where}" for where, text in texts if "eyJ" in text]
    for text in decoded:
        try:
            payload = json.loads(text)
        except ValueError:
            continue
        findings += [
            f"payload key {key!r} with a value" for key, value in _keys(payload) if key in SECRET_KEYS and value
        ]
    for index, secret in enumerate(s for s in known_secrets if s):
        if any(secret in text for _, text in texts):
            findings.append(f"stored secret #{index + 1} verbatim")
    if any(MACHINE_PATH.search(text) for _, text in texts):
        findings.append("an absolute path of the recording machine")
    return sorted(set(findings))


def scrub_stack_traces(node: Any) -> Any:
    """Blank the stack traces of recorded failures: they hold the recording machine's file paths, and
    replay never reads them (it compares commands, not failure details)."""
    if isinstance(node, dict):
        return {key: ("" if key == "stackTrace" else scrub_stack_traces(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [scrub_stack_traces(item) for item in node]
    return node
