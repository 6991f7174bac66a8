"""`ReelMirrorActivities`: every activity of the product, on one object the worker registers.

The activities are grouped by area in sibling modules (account, persona, content, publishing); this class
composes them so workflows have one stable name to call (`ReelMirrorActivities.generate_post`) and the
worker one object to construct, register (`all()`) and close (`aclose()`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.account import AccountActivities
from activities.content import ContentActivities
from activities.models import ACTIVITY_NAMES
from activities.persona import PersonaActivities
from activities.publishing import PublishingActivities

__all__ = ["ACTIVITY_NAMES", "ReelMirrorActivities"]


class ReelMirrorActivities(AccountActivities, PersonaActivities, ContentActivities, PublishingActivities):
    """Construct with `(settings, store, mailbox)`; register `all()`; `await aclose()` on shutdown."""

    def all(self) -> list[Callable[..., Any]]:
        """The bound activity methods, one per name of `ACTIVITY_NAMES` (the method names are the activity names)."""
        return [getattr(self, name) for name in ACTIVITY_NAMES]
