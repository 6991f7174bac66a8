"""Where each workflow is: the values of its STAGE search attribute and of its status's `stage`.

Enums, so a typo fails at import rather than showing an unknown stage in the Web UI. They are `str`
enums because the values are recorded in history and searched by operators as plain text.
"""

from __future__ import annotations

import enum

__all__ = ["OnboardingStage", "PersonaStage", "PostStage"]


class OnboardingStage(enum.StrEnum):
    STARTING = "starting"
    SIGNING_UP = "signing_up"
    AWAITING_EMAIL = "awaiting_email_confirmation"
    CONFIRMING = "confirming_email"
    CREATING_KEY = "creating_api_key"
    ATTACHING_CARD = "attaching_card"
    AWAITING_BONUS = "awaiting_bonus"
    CONFIGURING_AUTO_RELOAD = "configuring_auto_reload"
    PARKED = "parked"
    DONE = "done"
    FAILED = "failed"


class PersonaStage(enum.StrEnum):
    SETUP = "setup"
    SYNCING = "syncing"
    PLANNING = "planning"
    GENERATING = "generating"
    WAITING = "waiting"
    PARKED = "parked"
    PAUSED = "paused"
    DONE = "done"


class PostStage(enum.StrEnum):
    STARTING = "starting"
    GENERATING = "generating"
    AWAITING_SERVER_POST = "awaiting_server_post"
    RENDERING = "rendering_media"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVING = "approving"
    REJECTING = "rejecting"
    AWAITING_SERVER_PUBLISH = "awaiting_server_publish"
    PUBLISHING = "publishing"
    PARKED = "parked"
    DONE = "done"
