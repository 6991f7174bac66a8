"""Read a Prometheus text exposition: for the demo's summary and for tests that assert on counters.

Only what `/metrics` of the Temporal core emits is handled (no escapes inside label values beyond `\\"`),
which keeps this a dozen lines instead of a dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Sample", "parse", "total"]

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


def parse(text: str) -> list[Sample]:
    """Every sample line of `text` (comments and blank lines skipped)."""
    samples = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found is None or line.startswith("#"):
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(found["labels"] or "")}
        samples.append(Sample(found["name"], float(found["value"]), labels))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of `name` over every sample whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
