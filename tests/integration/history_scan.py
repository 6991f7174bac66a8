"""Read a workflow history as the Temporal server stores it, and find anything personal or secret in it.

Every payload must be ciphertext except the ones Temporal needs to read (search attributes) and the
trace context headers; those, the ids and every other field are searched for the needles as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History

ENCRYPTED = b"binary/encrypted"
#: Payloads the server must read, that carry only a trace context, or the SDK's own `workflow.patched`
#: markers (the patch id, written by the SDK core, not through the codec): allowed in clear, searched as text.
CLEAR_TEXT_FIELDS = ("search_attributes", "header", "marker_recorded_event_attributes")
#: E-mail addresses; `pid@host` worker identities are not (their local part is all digits).
EMAIL_ADDRESS = re.compile(r"(?<![\w.+-])(?!\d+@)[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)


def payloads(message: Message, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Payload]]:
    """Every Payload inside `message`, with the field path that leads to it."""
    for descriptor, value in message.ListFields():
        if descriptor.type != descriptor.TYPE_MESSAGE:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            value_field = descriptor.message_type.fields_by_name["value"]
            if value_field.type != value_field.TYPE_MESSAGE:
                continue
            items: Iterable[Message] = list(value.values())
        elif descriptor.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield (*path, descriptor.name), item
            else:
                yield from payloads(item, (*path, descriptor.name))


@dataclass
class Scan:
    """What a history shows without the key."""

    text: str  # every field as JSON, ciphertext blanked, clear-text payloads decoded
    encrypted: list[str] = field(default_factory=list)  # field paths of encrypted payloads
    unexpected_clear: list[str] = field(default_factory=list)  # clear-text payloads outside CLEAR_TEXT_FIELDS


def scan(history: History) -> Scan:
    """The history as the text an attacker with the database reads, and where its payloads are.

    Ciphertext is blanked (it is random bytes; its base64 could spell anything); clear-text payloads are
    decoded into the text, so a value in a search attribute is searched like any other field.
    """
    copy = History()
    copy.CopyFrom(history)
    clear: list[str] = []
    result = Scan(text="")
    for path, payload in payloads(copy):
        where = ".".join(path)
        if payload.metadata.get("encoding") == ENCRYPTED:
            result.encrypted.append(where)
            payload.data = b""
            continue
        if not any(name in path for name in CLEAR_TEXT_FIELDS):
            result.unexpected_clear.append(where)
        clear.append(payload.data.decode("utf-8", "replace"))
        payload.data = b""
    result.text = json_format.MessageToJson(copy) + "\n" + "\n".join(clear)
    return result


def findings(text: str, needles: Iterable[str]) -> list[str]:
    """The needles (and any e-mail address) that occur in `text`."""
    found = [needle for needle in needles if needle and needle in text]
    found += [f"e-mail address {match}" for match in EMAIL_ADDRESS.findall(text)]
    return found
