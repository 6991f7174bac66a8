"""Faults on demand: what to inject and the per-request decision.

The real service fails in ways a happy-path simulator never would: rate limits, upstream errors,
outages, slow answers, responses lost after the side effect was committed (the usual source of
duplicate posts and double charges), requests held so long that the client gives up before they
commit (late commits), and answers that cannot be read (an HTML page from a proxy, a
truncated body, missing fields, a status value nobody has seen; see :mod:`simulator.malformed`).
``ChaosConfig`` describes the faults;
``ChaosEngine`` draws, for one request, whether and which fault applies, from the seeded generator
so that a run can be repeated. Applying the decision to HTTP is the middleware's job.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulator.malformed import MALFORMED_KINDS, MalformedKind

ErrorCode = Literal["429", "502", "503"]
LostMode = Literal["502", "drop", "mixed"]
_Rate = Annotated[float, Field(ge=0.0, le=1.0)]


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
    return value


def _upper(value: list[str] | None) -> list[str] | None:
    return None if value is None else [method.upper() for method in value]


class LateCommit(BaseModel):
    """Requests held before their handler runs, then run and committed even if the client has gone.

    A slow proxy or load balancer does this: the client times out and retries, and the first request
    still arrives. The delay is in **real** seconds (not scaled by the time scale) because it has to
    outlast a client's real HTTP timeout. ``path_pattern`` and ``methods`` narrow it further than the
    config's own filters.
    """

    model_config = ConfigDict(extra="forbid")

    rate: _Rate = 0.0
    delay_seconds: float = Field(default=35.0, gt=0, le=3600)
    path_pattern: str | None = None
    methods: list[str] | None = None

    _valid_regex = field_validator("path_pattern")(_regex)
    _upper_methods = field_validator("methods")(_upper)

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path_pattern is None or re.search(self.path_pattern, path) is not None


class ChaosConfig(BaseModel):
    """Injected faults. The default injects nothing; ``PUT /_sim/chaos`` replaces it whole."""

    model_config = ConfigDict(extra="forbid")

    error_rates: dict[ErrorCode, _Rate] = Field(default_factory=dict)
    lost_response_rate: _Rate = 0.0
    lost_response_mode: LostMode = "502"
    latency_ms: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]] | None = None
    # Answers corrupted after the handler ran (and committed): probability per request and kind.
    malformed_rates: dict[MalformedKind, _Rate] = Field(default_factory=dict)
    unknown_status_value: str = Field(default="exploded", min_length=1, max_length=64)
    late_commit: LateCommit = Field(default_factory=LateCommit)
    path_pattern: str | None = None
    methods: list[str] | None = None
    max_faults: Annotated[int, Field(ge=0)] | None = None

    _valid_regex = field_validator("path_pattern")(_regex)
    _upper_methods = field_validator("methods")(_upper)

    @model_validator(mode="after")
    def _consistent(self) -> ChaosConfig:
        if sum(self.error_rates.values()) > 1.0 + 1e-9:
            raise ValueError("error_rates must add up to at most 1")
        if sum(self.malformed_rates.values()) > 1.0 + 1e-9:
            raise ValueError("malformed_rates must add up to at most 1")
        if self.latency_ms is not None and self.latency_ms[0] > self.latency_ms[1]:
            raise ValueError("latency_ms is [min, max] with min <= max")
        return self

    def matches(self, method: str, path: str) -> bool:
        """Whether faults may apply to this request (path regex searched, method filter)."""
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return self.path_pattern is None or re.search(self.path_pattern, path) is not None


@dataclass(frozen=True)
class ChaosDecision:
    """What happens to one request: extra latency, an error instead of the handler, or a lost answer."""

    latency_ms: int | None = None
    error_status: int | None = None
    lost: Literal["502", "drop"] | None = None


class ChaosEngine:
    """Holds the current chaos config and draws decisions for requests."""

    def __init__(self, config: ChaosConfig, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self._injected = 0

    def replace(self, config: ChaosConfig) -> None:
        """Install a new config; the ``max_faults`` budget starts again."""
        self.config = config
        self._injected = 0

    def _budget_left(self) -> bool:
        limit = self.config.max_faults
        return limit is None or self._injected < limit

    def _spend(self) -> None:
        self._injected += 1

    def before_handler(self, method: str, path: str) -> ChaosDecision:
        """Latency and/or an injected error answered instead of running the handler."""
        config = self.config
        if not config.matches(method, path):
            return ChaosDecision()
        latency: int | None = None
        if config.latency_ms is not None and config.latency_ms[1] > 0 and self._budget_left():
            latency = self._rng.randint(config.latency_ms[0], config.latency_ms[1])
            self._spend()
        draw = self._rng.random()
        threshold = 0.0
        for code in ("429", "502", "503"):
            threshold += config.error_rates.get(code, 0.0)  # type: ignore[call-overload]
            if draw < threshold and self._budget_left():
                self._spend()
                return ChaosDecision(latency_ms=latency, error_status=int(code))
        return ChaosDecision(latency_ms=latency)

    def late_commit(self, method: str, path: str) -> float | None:
        """Real seconds to hold this request before it runs, or None. No draw when the rate is 0."""
        config = self.config
        late = config.late_commit
        if late.rate <= 0 or not config.matches(method, path) or not late.matches(method, path):
            return None
        if not self._budget_left() or self._rng.random() >= late.rate:
            return None
        self._spend()
        return late.delay_seconds

    def after_handler(self, method: str, path: str) -> Literal["502", "drop"] | None:
        """Whether the (already committed) response is lost, and how."""
        config = self.config
        if config.lost_response_rate <= 0 or not config.matches(method, path) or not self._budget_left():
            return None
        if self._rng.random() >= config.lost_response_rate:
            return None
        self._spend()
        if config.lost_response_mode == "mixed":
            return "502" if self._rng.random() < 0.5 else "drop"
        return config.lost_response_mode

    def malformed(self, method: str, path: str, applies: Callable[[MalformedKind], bool]) -> MalformedKind | None:
        """Whether the (already committed) answer is replaced by a malformed one, and of which kind.

        ``applies`` says whether a kind can corrupt this answer (a missing-fields body needs a JSON
        success, an unknown status needs a status field); a drawn kind that does not apply injects
        nothing and spends no ``max_faults`` budget. No draw at all when no malformed rate is set, so
        configs without them keep their seeded sequence.
        """
        config = self.config
        rates = config.malformed_rates
        if not any(rate > 0 for rate in rates.values()) or not config.matches(method, path):
            return None
        if not self._budget_left():
            return None
        draw = self._rng.random()
        threshold = 0.0
        for kind in MALFORMED_KINDS:
            threshold += rates.get(kind, 0.0)
            if draw < threshold:
                if not applies(kind):
                    return None
                self._spend()
                return kind
        return None
