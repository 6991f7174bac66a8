"""`persona update`: what a new persona file changes, and which changes a running persona cannot take.

Pure functions of two configurations, used by the update's validator and handler and by unit tests.
Accepted changes are applied at the next cycle: the loop continues as new with the new configuration, and
its setup (idempotent) adds new sources, sets changed modes and links new publishing targets.
"""

from __future__ import annotations

from typing import Any

from workflows.config import PersonaConfig
from workflows.models import PersonaState
from workflows.persona_rules import target_label

__all__ = ["describe_changes", "refusal", "take_pending"]

# Settings a running persona cannot take: the service keeps its persona's name and style, and the slug is
# the workflow's id.
_FIXED = ("name", "slug", "writing_style")


def _sources(config: PersonaConfig) -> dict[str, str]:
    return {f"{s.platform}/{s.username.lower()}": s.automation_mode for s in config.sources}


def _targets(config: PersonaConfig) -> set[str]:
    return {target_label(a) for a in config.publishing_accounts}


def refusal(current: PersonaConfig, new: PersonaConfig) -> str | None:
    """Why `new` cannot replace `current` on the running loop, or None."""
    if new.persona_slug != current.persona_slug:
        return f"the file is for persona '{new.persona_slug}', not '{current.persona_slug}'"
    fixed = [f for f in _FIXED if getattr(new, f) != getattr(current, f)]
    if fixed:
        return f"{', '.join(fixed)} cannot change on a running persona (start a new persona instead)"
    removed = sorted(set(_sources(current)) - set(_sources(new)))
    if removed:
        return (
            f"sources cannot be removed ({', '.join(removed)}): the service has no way to delete one; "
            "set its automation_mode instead"
        )
    unlinked = sorted(_targets(current) - _targets(new))
    if unlinked:
        return f"publishing targets cannot be removed ({', '.join(unlinked)}): the service has no way to unlink one"
    return None


def describe_changes(current: PersonaConfig, new: PersonaConfig) -> list[str]:
    """One line per change, in the file's terms: `sources: + instagram/chef (auto_clone)`, `x: a -> b`."""
    lines: list[str] = []
    old_sources, new_sources = _sources(current), _sources(new)
    for key, mode in new_sources.items():
        if key not in old_sources:
            lines.append(f"sources: + {key} ({mode})")
        elif old_sources[key] != mode:
            lines.append(f"sources: {key} {old_sources[key]} -> {mode}")
    for label in sorted(_targets(new) - _targets(current)):
        lines.append(f"publishing_accounts: + {label}")
    skip = {"sources", "publishing_accounts", *_FIXED}
    before, after = current.model_dump(exclude=skip), new.model_dump(exclude=skip)
    for field in PersonaConfig.model_fields:
        if field in skip or before.get(field) == after.get(field):
            continue
        lines.extend(_field_changes(field, before.get(field), after.get(field)))
    return lines


def take_pending(config: PersonaConfig, state: PersonaState) -> PersonaConfig:
    """The configuration the next run starts with: an accepted `persona update` (then cleared), else `config`."""
    pending, state.pending_config = state.pending_config, None
    return pending or config


def _field_changes(field: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            f"{field}.{key}: {_show(old.get(key))} -> {_show(new.get(key))}"
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]
    return [f"{field}: {_show(old)} -> {_show(new)}"]


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if value == []:
        return "none"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
        return str(value)
    return str(value)
