"""Search attributes the Web UI filters on; `devstack` registers them on the dev server at start."""

from temporalio.common import SearchAttributeKey

PERSONA = SearchAttributeKey.for_keyword("ReelMirrorPersona")
STAGE = SearchAttributeKey.for_keyword("ReelMirrorStage")
POST_ID = SearchAttributeKey.for_keyword("ReelMirrorPostId")

ALL_KEYS = (PERSONA, STAGE, POST_ID)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` arguments that register every key."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
