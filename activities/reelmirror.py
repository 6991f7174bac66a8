"""`ReelMirrorActivities`: every activity of the product, on one object the worker registers.

The activities are grouped by area in sibling modules (account, persona, content, publishing); this class
composes them so workflows call each by reference (`ReelMirrorActivities.generate_post`) and the worker
has one object to construct, register (`all()`) and close (`aclose()`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.account import AccountActivities
from activities.content import ContentActivities
from activities.persona import PersonaActivities
from activities.publishing import PublishingActivities
from activities.workflow_state import WorkflowStateActivities

__all__ = ["ReelMirrorActivities", "activity_method_names"]


def activity_method_names(cls: type) -> list[str]:
    """Names of the methods of `cls` decorated with `@activity.defn` (each is also its activity type name)."""
    return sorted(
        name
        for name in dir(cls)
        if not name.startswith("_") and hasattr(getattr(cls, name), "__temporal_activity_definition")
    )


class ReelMirrorActivities(
    AccountActivities, PersonaActivities, ContentActivities, PublishingActivities, WorkflowStateActivities
):
    """Construct with `(settings, store, mailbox)`; register `all()`; `await aclose()` on shutdown."""

    def all(self) -> list[Callable[..., Any]]:
        """The bound activity methods, found by their `@activity.defn` decoration."""
        return [getattr(self, name) for name in activity_method_names(type(self))]
