"""The history scan used by the encryption test finds what it must (a control for that test)."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, HistoryEvent

from tests.integration.history_scan import findings, scan


def started(payload: Payload, search: Payload) -> History:
    event = HistoryEvent(event_id=1)
    attributes = event.workflow_execution_started_event_attributes
    attributes.input.payloads.append(payload)
    attributes.search_attributes.indexed_fields["ReelMirrorPersona"].CopyFrom(search)
    attributes.identity = "4242@runner.example.com"
    return History(events=[event])


def test_clear_payloads_and_addresses_are_found() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "bot@example.test"}')
    search = Payload(metadata={"encoding": b"json/plain"}, data=b'"leak@example.test"')
    seen = scan(started(plain, search))
    assert seen.unexpected_clear == ["events.workflow_execution_started_event_attributes.input.payloads"]
    found = findings(seen.text, ["rm_"])
    assert "e-mail address bot@example.test" in found and "e-mail address leak@example.test" in found
    assert not any("runner.example.com" in item for item in found), "a pid@host identity is not an address"


def test_ciphertext_is_blanked_not_searched() -> None:
    secret = Payload(metadata={"encoding": b"binary/encrypted"}, data=b"rm_eyJ random bytes a@b.test")
    search = Payload(metadata={"encoding": b"json/plain"}, data=b'"sunset-kitchen"')
    seen = scan(started(secret, search))
    assert not seen.unexpected_clear and len(seen.encrypted) == 1
    assert not findings(seen.text, ["rm_", "eyJ"])
    assert "sunset-kitchen" in seen.text
