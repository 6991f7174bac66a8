"""How long a persona's jobs take, learned from what its polls saw, and when to check the next job.

Why learn: the guide documents wide ranges (a video takes 60-300 s), and a poll that only knows the range
must check often across all of it to notice completion promptly. A persona's real jobs are usually far
narrower than that, so once it has seen a few, a couple of well-placed checks do the work of a dozen.

The summary per job kind is a small histogram on fixed log-spaced bins (a few hundred bytes: it travels
in workflow inputs and across continue-as-new). An observation is interval-censored: the job was not done
at one check and was done at the next, so it is spread over that interval in proportion to what the
histogram already believes (one step of the self-consistency (EM) estimate for censored data). Old
observations fade (`DECAY`), and the documented range always keeps a share (`PRIOR_WEIGHT`), so a persona
that knows little falls back to the guide's ranges.

Checks are planned from the blended density: from the last check at age `a` the next one is the latest
`t` whose expected detection lag, over the jobs finishing between `a` and `t`, stays within `kappa` times
the chance the job is still running at `a` (a square-root rule: sparse checks where completion is
unlikely, dense ones where it is likely). `kappa` is searched so that the plan's expected lag meets the
kind's lag budget. Pure functions only: workflows compute plans deterministically and replay them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BINS",
    "DECAY",
    "KINDS",
    "PRIOR_WEIGHT",
    "CheckPlan",
    "DurationObservation",
    "DurationSummary",
    "KindSpec",
    "observe",
    "plan_checks",
]

BINS = 56
#: Weight of the previous observations when a new one arrives: about the last ten jobs count.
DECAY = 0.93
#: The documented range's weight, in observations: dominant at first, a small share once jobs were seen.
PRIOR_WEIGHT = 1.5
#: Never less than this share of belief stays on the documented range, so a shift can still be learned.
PRIOR_FLOOR = 0.03
#: A plan stops once the job is this unlikely to be still running; later checks follow the tail rule.
_SURVIVAL_EPSILON = 1e-3
#: Share of the interquartile range a plan may spend as lag when durations are widely spread.
SPREAD_SHARE = 0.16
#: Decayed observations after which spacing is judged by what was observed rather than by the blend.
NARROWER = 0.6
LEARNED_ENOUGH = 1.5
_MAX_CHECKS = 64


@dataclass(frozen=True)
class KindSpec:
    """What is known about one kind of job before any is seen.

    `low`/`high`: the documented duration range (service seconds). `lag_budget_seconds`: the mean delay
    between completion and noticing it that the plan may spend; `lag_share` caps it at that share of the
    typical duration, so short or well-known jobs are noticed proportionally sooner. `tail_step_seconds`
    bounds the gap between checks once a job outlives the plan.
    """

    low: float
    high: float
    lag_budget_seconds: float
    lag_share: float = 0.07
    tail_step_seconds: float = 15.0

    @property
    def edges(self) -> tuple[float, ...]:
        return _edges(self.low, self.high)


#: The guide's documented ranges. Lag budgets sit a little under the guide's own fixed loops' mean lag
#: (15 s for syncs, 10 s for media and deliveries: 7.5 s and 5 s), so learning never notices later.
KINDS: dict[str, KindSpec] = {
    "sync": KindSpec(low=30, high=300, lag_budget_seconds=7.0, tail_step_seconds=30),
    "image": KindSpec(low=20, high=90, lag_budget_seconds=4.2, tail_step_seconds=15),
    "video": KindSpec(low=60, high=300, lag_budget_seconds=4.2, tail_step_seconds=30),
    "delivery": KindSpec(low=10, high=60, lag_budget_seconds=4.6, tail_step_seconds=15),
}


#: Bins below, inside and above the documented range: most of the resolution where jobs usually end.
_BINS_BELOW, _BINS_ABOVE = 8, 12


@lru_cache(maxsize=64)
def _edges(low: float, high: float) -> tuple[float, ...]:
    """Log-spaced bin edges from a quarter of the documented minimum to three times its maximum, with
    the documented bounds themselves as edges (so the prior has no mass outside them)."""
    inside = BINS - _BINS_BELOW - _BINS_ABOVE
    edges = [low / 4 * 4 ** (i / _BINS_BELOW) for i in range(_BINS_BELOW)]
    edges += [low * (high / low) ** (i / inside) for i in range(inside)]
    edges += [high * 3 ** (i / _BINS_ABOVE) for i in range(_BINS_ABOVE + 1)]
    return tuple(edges)


class DurationObservation(BaseModel):
    """One finished poll: the job ran at age `not_done_at` (0 when never seen running) and was done at
    `done_at` (service seconds since it started)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: str
    not_done_at: float = Field(ge=0)
    done_at: float = Field(ge=0)


class DurationSummary(BaseModel):
    """Per kind, the learned weight of each bin (decayed observation counts), rounded to stay small."""

    model_config = ConfigDict(extra="ignore")

    weights: dict[str, list[float]] = Field(default_factory=dict)
    observed: dict[str, int] = Field(default_factory=dict)

    def density(self, kind: str) -> tuple[float, ...]:
        """Probability mass per bin: the learned histogram blended with the documented range."""
        spec = KINDS[kind]
        learned = self.weights.get(kind) or []
        return _density(spec.low, spec.high, tuple(learned) if len(learned) == BINS else ())


@lru_cache(maxsize=256)
def _prior(low: float, high: float) -> tuple[float, ...]:
    edges = _edges(low, high)
    return tuple(_overlap(edges[i], edges[i + 1], low, high) / (high - low) for i in range(BINS))


@lru_cache(maxsize=512)
def _density(low: float, high: float, learned: tuple[float, ...]) -> tuple[float, ...]:
    prior = _prior(low, high)
    total = sum(learned)
    if total <= 0:
        return prior
    share = max(PRIOR_WEIGHT / (PRIOR_WEIGHT + total), PRIOR_FLOOR)
    smooth = _smooth(learned)
    return tuple(share * p + (1 - share) * w / total for p, w in zip(prior, smooth, strict=True))


def _smooth(weights: tuple[float, ...]) -> tuple[float, ...]:
    """A [1, 2, 1] kernel over neighbouring bins: a few observations make a lumpy histogram, and a
    lump's gaps would leave jobs ending there unwatched for long."""
    n = len(weights)
    out = []
    for i in range(n):
        left = weights[i - 1] if i > 0 else 0.0
        right = weights[i + 1] if i < n - 1 else 0.0
        out.append((left + 2 * weights[i] + right) / 4)
    total = sum(out) or 1.0
    scale = sum(weights) / total
    return tuple(w * scale for w in out)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def observe(summary: DurationSummary, kind: str, not_done_at: float, done_at: float) -> DurationSummary:
    """The summary after one job of `kind` was seen running at age `not_done_at` and done at `done_at`.

    The observation's unit of weight goes to the bins of that interval in proportion to the current
    belief (uniformly when the belief puts nothing there); everything older fades by `DECAY`.
    """
    if kind not in KINDS or done_at <= 0:
        return summary
    spec = KINDS[kind]
    edges = spec.edges
    low = max(0.0, min(not_done_at, done_at))
    high = min(max(done_at, low), edges[-1])
    if high <= low:
        high = min(low + (edges[1] - edges[0]), edges[-1])
        low = min(low, high - 1e-9)
    density = summary.density(kind)
    share = [density[i] * _overlap(edges[i], edges[i + 1], low, high) / (edges[i + 1] - edges[i]) for i in range(BINS)]
    if sum(share) <= 0:
        share = [_overlap(edges[i], edges[i + 1], low, high) for i in range(BINS)]
    total = sum(share) or 1.0
    old = summary.weights.get(kind) or [0.0] * BINS
    new = [round(DECAY * w + s / total, 4) for w, s in zip(old, share, strict=True)]
    weights = dict(summary.weights)
    weights[kind] = new
    observed = dict(summary.observed)
    observed[kind] = observed.get(kind, 0) + 1
    return DurationSummary(weights=weights, observed=observed)


@dataclass(frozen=True)
class CheckPlan:
    """Planned check ages (service seconds after the job started), with the plan's expectations."""

    ages: tuple[float, ...]
    expected_polls: float
    expected_lag_seconds: float
    lag_budget_seconds: float


def plan_checks(summary: DurationSummary, kind: str, age: float = 0.0) -> CheckPlan:
    """The checks for one job of `kind` that is `age` seconds old and not known to be done."""
    spec = KINDS[kind]
    learned = summary.weights.get(kind) or []
    return _plan(spec, summary.density(kind), tuple(learned) if len(learned) == BINS else (), round(max(age, 0.0), 3))


@lru_cache(maxsize=512)
def _plan(spec: KindSpec, density: tuple[float, ...], learned: tuple[float, ...], age: float) -> CheckPlan:
    """Checks placed on the blended belief; their spacing (`kappa`) chosen so that the expected lag meets
    the budget under what was actually observed, once enough was (the documented range's share only
    adds checks where it puts mass; it must not make every check denser)."""
    model = _Model(spec.edges, density)
    judge = model
    if sum(learned) >= LEARNED_ENOUGH:
        observed = _Model(spec.edges, _smooth(learned))
        if observed.spread() < NARROWER * (spec.high - spec.low) / 2:
            judge = observed
    budget = lag_budget(spec, judge)
    if model.survival(age) < _SURVIVAL_EPSILON:
        return CheckPlan((), 0.0, 0.0, budget)
    low, high = 1e-4, 1e4
    for _ in range(40):
        kappa = math.sqrt(low * high)
        ages = model.schedule(age, kappa).ages
        if judge.lag_of(ages, age) > budget:
            high = kappa
        else:
            low = kappa
        if high / low < 1.02:
            break
    plan = model.schedule(age, low)
    polls, lag = judge.polls_of(plan.ages, age), judge.lag_of(plan.ages, age)
    return CheckPlan(plan.ages, polls, lag, budget)


def lag_budget(spec: KindSpec, model: _Model) -> float:
    """The mean lag a plan may spend: about `lag_share` of the typical duration, more for widely spread
    durations (there each poll buys little), and at most the kind's budget for its documented range, a
    limit that relaxes as the persona's jobs prove more regular than documented."""
    spread = max(model.quantile(0.75) - model.quantile(0.25), 1e-6)
    documented_spread = (spec.high - spec.low) / 2
    wanted = max(spec.lag_share * model.quantile(0.5), SPREAD_SHARE * spread)
    return min(wanted, spec.lag_budget_seconds * math.sqrt(max(documented_spread / spread, 1.0)))


class _Model:
    """A piecewise-uniform density on the bins, with the integrals the planner needs."""

    def __init__(self, edges: tuple[float, ...], mass: tuple[float, ...]) -> None:
        self.edges = edges
        total = sum(mass) or 1.0
        self.mass = [m / total for m in mass]

    def survival(self, age: float) -> float:
        """P(duration > age)."""
        left = 0.0
        for i, m in enumerate(self.mass):
            lo, hi = self.edges[i], self.edges[i + 1]
            if hi <= age:
                continue
            left += m * (hi - max(lo, age)) / (hi - lo)
        return left

    def spread(self) -> float:
        """The interquartile range."""
        return self.quantile(0.75) - self.quantile(0.25)

    def quantile(self, q: float) -> float:
        acc = 0.0
        for i, m in enumerate(self.mass):
            if acc + m >= q and m > 0:
                lo, hi = self.edges[i], self.edges[i + 1]
                return lo + (hi - lo) * (q - acc) / m
            acc += m
        return self.edges[-1]

    def next_check(self, age: float, kappa: float, survival: float) -> tuple[float, float]:
        """The latest check after `age` whose expected lag over (age, t] stays within kappa * survival;
        returns it with that lag (unnormalised)."""
        target = kappa * survival
        lag = 0.0  # G(x) = integral over (age, x] of (x - s) p(s) ds
        passed = 0.0  # mass in (age, x]
        x = age
        for i, m in enumerate(self.mass):
            lo, hi = self.edges[i], self.edges[i + 1]
            if hi <= age:
                continue
            start = max(lo, age)
            density = m / (hi - lo)
            width = hi - start
            end_lag = lag + passed * width + density * width * width / 2
            if end_lag >= target:
                # solve lag + passed*d + density*d^2/2 = target for d in [0, width]
                if density > 0:
                    d = (-passed + math.sqrt(passed * passed + 2 * density * (target - lag))) / density
                else:
                    d = (target - lag) / passed if passed > 0 else width
                return start + d, target
            lag, passed, x = end_lag, passed + density * width, hi
        if passed <= 0:
            return x, lag
        return x + (target - lag) / passed, target

    def lag_of(self, ages: tuple[float, ...], age: float) -> float:
        """Expected lag of checks at `ages` for a job known to run at `age` (after the last planned
        check, jobs are taken to be noticed at once: the tail rule's cost is not the plan's)."""
        s0 = self.survival(age)
        if s0 <= 0:
            return 0.0
        total, previous = 0.0, age
        for t in ages:
            total += self._lag_between(previous, t)
            previous = t
        return total / s0

    def polls_of(self, ages: tuple[float, ...], age: float) -> float:
        s0 = self.survival(age)
        if s0 <= 0:
            return 0.0
        previous, polls = age, 0.0
        for t in ages:
            polls += self.survival(previous) / s0
            previous = t
        return polls

    def _lag_between(self, a: float, t: float) -> float:
        """Integral over (a, t] of (t - s) p(s) ds."""
        total = 0.0
        for i, m in enumerate(self.mass):
            lo, hi = self.edges[i], self.edges[i + 1]
            x0, x1 = max(lo, a), min(hi, t)
            if x1 <= x0 or m <= 0:
                continue
            density = m / (hi - lo)
            total += density * ((t - x0) ** 2 - (t - x1) ** 2) / 2
        return total

    def schedule(self, age: float, kappa: float) -> CheckPlan:
        s0 = self.survival(age)
        ages: list[float] = []
        polls = lag = 0.0
        a, s = age, s0
        while s / s0 >= _SURVIVAL_EPSILON and len(ages) < _MAX_CHECKS:
            t, interval_lag = self.next_check(a, kappa, s)
            t = max(t, a + 1e-3)
            ages.append(round(t, 3))
            polls += s / s0
            lag += interval_lag / s0
            a, s = t, self.survival(t)
        return CheckPlan(tuple(ages), polls, lag, 0.0)
