"""What `make demo` shows of the production setup: where to read encrypted payloads, and the worker's metrics.

Kept out of `devstack.demo` so the demo's script stays a story of onboarding, a persona and its posts.
"""

from __future__ import annotations

import httpx
from rich.console import Console
from rich.table import Table

from devstack.ports import free_port
from devstack.stack import LocalStack
from observability.scrape import parse, total
from observability.settings import HEALTH_PORT_ENV, METRICS_PORT_ENV

__all__ = ["metrics_table", "print_where_to_look", "telemetry_env"]


def telemetry_env() -> dict[str, str]:
    """Worker settings for the demo: metrics and health on free loopback ports."""
    return {METRICS_PORT_ENV: f"127.0.0.1:{free_port()}", HEALTH_PORT_ENV: f"127.0.0.1:{free_port()}"}


def _worker_url(stack: LocalStack, variable: str, path: str) -> str | None:
    value = stack.config.worker_env.get(variable)
    return f"http://{value}{path}" if value else None


def print_where_to_look(console: Console, stack: LocalStack) -> None:
    """The codec server and the Web UI setting for it, the key file, and the worker's endpoints."""
    if stack.codec_key_file is not None:
        console.print(f"   Payloads are encrypted with this stack's key ({stack.codec_key_file}).")
    if stack.codec_server is not None:
        url = stack.codec_server.url
        if stack.temporal.ui_url:
            console.print(
                f"   Codec server {url}: this Web UI already reads payloads through it (--ui-codec-endpoint). "
                f"In another Web UI: the [bold]Codec Server[/] icon (top right) -> endpoint {url}."
            )
        console.print(
            f"   CLI: temporal workflow show --address {stack.temporal_address} -w persona-sunset-kitchen "
            f"--codec-endpoint {url}"
        )
    metrics, ready = _worker_url(stack, METRICS_PORT_ENV, "/metrics"), _worker_url(stack, HEALTH_PORT_ENV, "/ready")
    if metrics or ready:
        console.print(f"   Worker metrics {metrics or 'off'}, readiness {ready or 'off'}")


#: (label, metric, labels) rows of the demo's metrics summary.
_ROWS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("posts generated", "reelmirror_posts_generated_total", {}),
    ("credits spent (cents)", "reelmirror_credits_spent_cents_total", {}),
    ("posts approved", "reelmirror_posts_approved_total", {}),
    ("posts rejected", "reelmirror_posts_rejected_total", {}),
    ("posts published", "reelmirror_posts_published_total", {}),
    ("posts failed", "reelmirror_posts_failed_total", {}),
    ("parked", "reelmirror_parked_total", {}),
    ("vendor calls", "reelmirror_vendor_calls_total", {}),
    ("vendor 429s", "reelmirror_rate_limited_total", {}),
    ("polls", "reelmirror_polls_total", {}),
)


def metrics_table(stack: LocalStack) -> Table | None:
    """The product counters as the worker's Prometheus endpoint reports them now (None: metrics off)."""
    url = _worker_url(stack, METRICS_PORT_ENV, "/metrics")
    if url is None:
        return None
    try:
        samples = parse(httpx.get(url, timeout=5).text)
    except httpx.HTTPError as exc:
        console_note = Table(title=f"Worker metrics ({url})", title_justify="left")
        console_note.add_column("unavailable")
        console_note.add_row(type(exc).__name__)
        return console_note
    table = Table(title="Worker metrics", caption=url, title_justify="left")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for label, name, labels in _ROWS:
        table.add_row(label, f"{total(samples, name, **labels):g}")
    statuses = sorted({s.labels.get("status", "") for s in samples if s.name == "reelmirror_vendor_calls_total"})
    for status in statuses:
        table.add_row(f"  vendor calls {status}", f"{total(samples, 'reelmirror_vendor_calls_total', status=status):g}")
    return table
