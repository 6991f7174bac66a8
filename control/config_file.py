"""Reading an operator's persona file: TOML in, a validated `PersonaConfig` out, or one line saying what to fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from control.ops import OperatorError
from workflows.config import PersonaConfig


def load_persona_config(path: Path) -> PersonaConfig:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise OperatorError(f"{path}: no such file") from None
    except OSError as exc:
        raise OperatorError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise OperatorError(f"{path}: not valid TOML ({exc})") from None
    try:
        return PersonaConfig.model_validate(data)
    except ValidationError as exc:
        raise OperatorError(f"{path}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError, names: dict[str, str] | None = None) -> str:
    """Pydantic's errors as `field: problem; field: problem`, with TOML-style field paths.

    `names` renames top-level fields, e.g. to the command-line flags they came from.
    """
    names = names or {}
    parts = []
    for error in exc.errors():
        location = ""
        for item in error["loc"]:
            location += f"[{item}]" if isinstance(item, int) else (f".{item}" if location else str(item))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required"
        elif error["type"] == "extra_forbidden":
            message = "is not a known setting (check the spelling)"
        parts.append(f"{names.get(location, location) or 'file'}: {message}")
    return "; ".join(parts)
