"""``python -m simulator``: parse options into a validated :class:`SimulatorConfig` and serve.

Invalid options are refused with one line naming the option (argparse's own errors already do;
range and consistency errors from the config model are mapped back to the option that set them).
The process prints its listening line once ready and shuts down cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from simulator.config import ANSWERS, DURATION_KINDS, SimulatorConfig
from simulator.maildir import MaildirError

PROG = "simulator"

# Config field path -> the option that sets it (for one-line validation errors).
_OPTION_FOR: dict[tuple[str, ...], str] = {
    ("host",): "--host",
    ("port",): "--port",
    ("time_scale",): "--time-scale",
    ("seed",): "--seed",
    ("stripe_api_base",): "--stripe-api-base",
    ("stripe_secret_key",): "--stripe-secret-key",
    ("reconcile_interval_seconds",): "--reconcile-interval",
    ("maildir",): "--maildir",
    ("runtime", "costs_cents", "image"): "--image-cost-cents",
    ("runtime", "costs_cents", "video"): "--video-cost-cents",
    ("runtime", "media_failure_rate"): "--media-failure-rate",
    ("runtime", "delivery_failure_rate"): "--delivery-failure-rate",
    ("runtime", "sync_failure_rate"): "--sync-failure-rate",
    ("runtime", "durations_seconds"): "--duration",
    ("runtime", "sync_cooldown_seconds"): "--sync-cooldown-seconds",
    ("runtime", "signup_limit"): "--signup-limit",
    ("runtime", "bonus_cents"): "--bonus-cents",
    ("runtime", "backlog_posts"): "--backlog-posts",
    ("runtime", "answers"): "--answers",
    ("runtime", "webhook_delay_seconds"): "--webhook-delay",
    ("runtime", "rate_limit", "limit"): "--rate-limit",
    ("runtime", "rate_limit", "window_seconds"): "--rate-limit-window",
    ("runtime",): "--runtime-config",
    ("chaos",): "--chaos",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, no usage dump: ``simulator: error: argument --port: invalid int value: 'x'``."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="ReelMirror API simulator (see simulator/README.md).")
    add = parser.add_argument
    add("--host", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, help="port to bind; 0 picks a free one (default 8787)")
    add("--time-scale", type=float, help="real seconds per simulated second (0.01: 90 s take 0.9 s; default 1)")
    add("--seed", type=int, help="seed of every random draw (default: random, shown by /_sim/health)")
    add("--stripe-api-base", help="Stripe API base URL (default http://127.0.0.1:8420, localstripe)")
    add("--stripe-secret-key", help="Stripe secret key (default sk_test_simulator)")
    add("--reconcile-interval", type=float, help="real seconds between SetupIntent reconciliations (default 1)")
    add("--image-cost-cents", type=int, help="credits per generated image (default 25; a carousel is 3 images)")
    add("--video-cost-cents", type=int, help="credits per generated video (default 100)")
    add("--media-failure-rate", type=float, help="probability a media item fails (default 0)")
    add("--delivery-failure-rate", type=float, help="probability a delivery fails (default 0)")
    add("--sync-failure-rate", type=float, help="probability a sync job fails (default 0)")
    add(
        "--duration",
        action="append",
        default=[],
        metavar="KIND=MIN:MAX",
        help=f"override a duration range in simulated seconds; KIND is one of {', '.join(DURATION_KINDS)}",
    )
    add("--sync-cooldown-seconds", type=float, help="sync cooldown in simulated seconds (default 900)")
    add("--signup-limit", type=int, help="signups per client IP per 24 simulated hours (default 5)")
    add("--bonus-cents", type=int, help="welcome bonus after a payment method is saved (default 500)")
    add("--backlog-posts", type=int, help="posts a new creator starts with (default 6)")
    add("--rate-limit", type=int, help="requests per key per window (default 120)")
    add("--rate-limit-window", type=float, help="rate-limit window in real seconds (default 60)")
    add("--rate-limit-reset-format", choices=("unix", "seconds"), help="X-RateLimit-Reset form (default unix)")
    add("--no-retry-after", action="store_true", help="omit Retry-After on 429 answers")
    add(
        "--answers",
        choices=ANSWERS,
        help="full: every field the contract promises or assumes (default); guide: only what the guide promises",
    )
    add("--webhook-delay", type=float, help="guide answers: simulated seconds until the bonus webhook (default 30)")
    add(
        "--idempotency-keys",
        action="store_true",
        help="a repeated Idempotency-Key on a POST returns the first answer (off by default: the guide promises none)",
    )
    add("--runtime-config", type=Path, help="JSON file with runtime knobs (the /_sim/config shape)")
    add("--chaos", help="chaos config as JSON (the PUT /_sim/chaos shape), or @FILE")
    add("--late-commit-rate", type=float, help="probability that an /api/v1 request is held, then committed late")
    add(
        "--late-commit-seconds",
        type=float,
        help="real seconds a held request waits before it runs (default 35; must outlast the client's timeout)",
    )
    add("--late-commit-path", metavar="REGEX", help="only hold requests whose path matches (e.g. '/v1/generate$')")
    add("--maildir", type=Path, metavar="PATH", help="also deliver confirmation mails as RFC 5322 files here")
    add("--access-log", action="store_true", help="log every request")
    add("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="default WARNING")
    return parser


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(message)


def _durations(parser: argparse.ArgumentParser, specs: list[str]) -> dict[str, list[float]]:
    result: dict[str, list[float]] = {}
    for spec in specs:
        kind, _, span = spec.partition("=")
        low, _, high = span.partition(":")
        if kind not in DURATION_KINDS:
            _fail(parser, f"argument --duration: unknown kind {kind!r} (use {', '.join(DURATION_KINDS)})")
        try:
            result[kind] = [float(low), float(high)]
        except ValueError:
            _fail(parser, f"argument --duration: expected KIND=MIN:MAX, got {spec!r}")
    return result


def _json_option(parser: argparse.ArgumentParser, option: str, text: str) -> dict[str, Any]:
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
        value = json.loads(raw)
    except (OSError, ValueError) as exc:
        _fail(parser, f"argument {option}: {exc}")
    if not isinstance(value, dict):
        _fail(parser, f"argument {option}: expected a JSON object")
    return value


def config_from_args(argv: Sequence[str] | None = None) -> SimulatorConfig:
    """Parse ``argv`` into a validated config; exits with status 2 and one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    data: dict[str, Any] = {}
    for name in ("host", "port", "time_scale", "seed", "stripe_api_base", "stripe_secret_key"):
        if getattr(args, name) is not None:
            data[name] = getattr(args, name)
    if args.reconcile_interval is not None:
        data["reconcile_interval_seconds"] = args.reconcile_interval
    data["access_log"] = args.access_log
    if args.maildir is not None:
        data["maildir"] = args.maildir
    runtime: dict[str, Any] = {}
    if args.runtime_config is not None:
        runtime = _json_option(parser, "--runtime-config", f"@{args.runtime_config}")
    costs = {k: v for k, v in (("image", args.image_cost_cents), ("video", args.video_cost_cents)) if v is not None}
    if costs:
        runtime["costs_cents"] = {**runtime.get("costs_cents", {}), **costs}
    for name in ("media_failure_rate", "delivery_failure_rate", "sync_failure_rate", "sync_cooldown_seconds"):
        if getattr(args, name) is not None:
            runtime[name] = getattr(args, name)
    for name in ("signup_limit", "bonus_cents", "backlog_posts", "answers"):
        if getattr(args, name) is not None:
            runtime[name] = getattr(args, name)
    if args.webhook_delay is not None:
        runtime["webhook_delay_seconds"] = args.webhook_delay
    if args.idempotency_keys:
        runtime["idempotency_keys"] = True
    if args.duration:
        runtime["durations_seconds"] = {**runtime.get("durations_seconds", {}), **_durations(parser, args.duration)}
    limits: dict[str, Any] = dict(runtime.get("rate_limit", {}))
    if args.rate_limit is not None:
        limits["limit"] = args.rate_limit
    if args.rate_limit_window is not None:
        limits["window_seconds"] = args.rate_limit_window
    if args.rate_limit_reset_format is not None:
        limits["reset_format"] = args.rate_limit_reset_format
    if args.no_retry_after:
        limits["retry_after"] = False
    if limits:
        runtime["rate_limit"] = limits
    if runtime:
        data["runtime"] = runtime
    if args.chaos is not None:
        data["chaos"] = _json_option(parser, "--chaos", args.chaos)
    late, late_options = _late_commit(args)
    if late:
        chaos = data.setdefault("chaos", {})
        chaos["late_commit"] = {**(chaos.get("late_commit") or {}), **late}
    data["log_level"] = args.log_level
    try:
        return SimulatorConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        _fail(parser, f"argument {_option_for(error['loc'], late_options)}: {message}")


def _late_commit(args: argparse.Namespace) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The ``late_commit`` chaos fields the ``--late-commit-*`` flags set, and the option of each field."""
    fields: dict[str, Any] = {}
    options: dict[tuple[str, ...], str] = {}
    for attribute, field, option in (
        ("late_commit_rate", "rate", "--late-commit-rate"),
        ("late_commit_seconds", "delay_seconds", "--late-commit-seconds"),
        ("late_commit_path", "path_pattern", "--late-commit-path"),
    ):
        if getattr(args, attribute) is not None:
            fields[field] = getattr(args, attribute)
            options[("chaos", "late_commit", field)] = option
    return fields, options


def _option_for(loc: tuple[int | str, ...], extra: dict[tuple[str, ...], str] | None = None) -> str:
    path = tuple(str(part) for part in loc)
    known = {**_OPTION_FOR, **(extra or {})}
    for length in range(len(path), 0, -1):
        option = known.get(path[:length])
        if option is not None:
            return option
    return ".".join(path) or "options"


async def serve(config: SimulatorConfig) -> None:
    """Run until SIGINT or SIGTERM, printing the listening line once ready."""
    # Imported here so that refusing a bad option does not pay for loading aiohttp and stripe.
    from simulator.server import SimulatorServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(config) as server:
        print(f"ReelMirror simulator listening on {server.base_url} (admin {server.admin_url})", flush=True)
        await stop.wait()
    print("ReelMirror simulator stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config))
    except MaildirError as exc:
        print(f"{PROG}: error: argument --maildir: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0
