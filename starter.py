"""The operator's command line: onboard an account, start personas, approve or reject posts, watch.

Every command refuses bad input before it touches anything: it prints one line starting with `error:`
and exits 2. A Temporal server that cannot be reached exits 1. Connection settings come from temporalio's
environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, ...); the payload key
the worker uses (REELMIRROR_CODEC_KEYS or REELMIRROR_CODEC_KEY_FILE) is required here too, since what the
CLI sends and reads is encrypted (REELMIRROR_CODEC=off opts out, on both sides).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from temporalio.client import Client
from temporalio.service import RPCError
from typer._click.exceptions import UsageError  # typer vendors click and exports no alias

from codec import CodecConfigError
from control import ops
from control.config_file import describe_validation_error, load_persona_config
from control.connection import connect, task_queue
from control.render import approvals_table, personas_table
from control.telemetry import configure_tracing
from observability.settings import span_exporter_from_env
from workflows.config import AutoReloadConfig, OnboardingInput, check_account_ref
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

T = TypeVar("T")

app = typer.Typer(
    help="Run ReelMirror bots durably on Temporal: onboard accounts, start personas, approve posts, watch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
persona_app = typer.Typer(help="Start or check persona loops from a TOML config file.", no_args_is_help=True)
account_app = typer.Typer(help="Credentials in the worker's secret store.", no_args_is_help=True)
app.add_typer(persona_app, name="persona")
app.add_typer(account_app, name="account")
console = Console()

TimeScale = Annotated[
    float,
    typer.Option(min=0.0001, max=1.0, help="Shrink every wait (rehearsals against the simulator at the same scale)."),
]


def _finish(code: int) -> None:
    """Exit without interpreter teardown: avoids the SDK's PyGILState_Release abort (sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    _finish(code)


def _account_name(account: str, label: str = "--account") -> str:
    try:
        return check_account_ref(account)
    except ValueError as exc:
        raise ops.OperatorError(f"{label}: {exc}") from None


def _refuse_early(check: Callable[[], object]) -> None:
    """Validate before connecting, so bad input never reaches Temporal."""
    try:
        check()
    except ops.OperatorError as exc:
        fail(str(exc))


#: A command waits at most this long at exit to hand its spans to a collector (unless OTEL_*_TIMEOUT says).
CLI_EXPORT_TIMEOUT_SECONDS = 2.0


def _tracing() -> TracerProvider | None:
    """The worker's span settings, so a start call opens the trace its workflows continue."""
    try:
        exporter, endpoint = span_exporter_from_env()
    except ValueError as exc:
        fail(str(exc))
    return configure_tracing(exporter, "reelmirror-cli", endpoint, export_timeout=CLI_EXPORT_TIMEOUT_SECONDS)


def run(action: Callable[[Client], Awaitable[T]]) -> T:
    """Connect, run one operation, and turn every expected failure into one line and an exit code."""

    async def main() -> T:
        try:
            client = await connect()
        except CodecConfigError as exc:
            fail(str(exc))
        except (RuntimeError, RPCError) as exc:
            fail(f"cannot reach Temporal ({exc}); check TEMPORAL_ADDRESS", code=1)
        return await action(client)

    provider = _tracing()
    try:
        try:
            return asyncio.run(main())
        finally:
            if provider is not None:
                provider.shutdown()  # send the spans before `_finish` skips interpreter teardown
    except ops.OperatorError as exc:
        fail(str(exc))
    except RPCError as exc:
        fail(f"Temporal refused the request: {exc.message}", code=1)
    except KeyboardInterrupt:
        _finish(130)
    raise AssertionError("unreachable")


ONBOARD_FLAGS = {"email": "--email", "account_ref": "--account", "confirmation": "--confirmation"}


@app.command()
def onboard(
    email: Annotated[str, typer.Option(help="E-mail for the new ReelMirror account.")],
    account: Annotated[str, typer.Option(help="Name of the credentials in the worker's secret store.")] = "main",
    card: Annotated[bool, typer.Option(help="Attach the configured payment method (unlocks the $5 bonus).")] = False,
    auto_reload: Annotated[bool, typer.Option(help="Enable auto-reload (needs --card).")] = False,
    reload_threshold_cents: int = 500,
    reload_amount_cents: int = 2500,
    confirmation: Annotated[str, typer.Option(help="mailbox (worker reads it) or signal (confirm-email).")] = "mailbox",
    time_scale: TimeScale = 1.0,
    wait: Annotated[bool, typer.Option(help="Wait for the account summary.")] = True,
) -> None:
    """Sign up, confirm the e-mail, create the API key and optionally attach a card: one workflow per account."""
    if auto_reload and not card:
        fail("--auto-reload needs --card: ReelMirror reloads only from a saved payment method")
    try:
        inp = OnboardingInput(
            email=email, account_ref=account, attach_card=card, confirmation=confirmation,  # type: ignore[arg-type]
            auto_reload=AutoReloadConfig(threshold_cents=reload_threshold_cents, amount_cents=reload_amount_cents)
            if auto_reload else None,
            timing=Timing(time_scale=time_scale),
        )  # fmt: skip
    except ValidationError as exc:
        fail(describe_validation_error(exc, ONBOARD_FLAGS))

    async def action(client: Client) -> None:
        handle = await ops.start_onboarding(client, inp, task_queue())
        print(f"onboarding workflow {handle.id} running")
        if wait:
            summary = await handle.result()
            print(json.dumps(summary.model_dump(mode="json") if hasattr(summary, "model_dump") else summary, indent=2))

    run(action)
    _finish(0)


@app.command("confirm-email")
def confirm_email(
    account: Annotated[str, typer.Argument(help="The account name given to `onboard --account` (not the e-mail).")],
    link: str,
) -> None:
    """Hand the confirmation link from the e-mail to an onboarding started with --confirmation signal."""
    _refuse_early(lambda: (ops.check_onboarding_account(account), ops.check_link(link)))
    run(lambda client: ops.confirm_email(client, account, link))
    print(f"confirmation link sent to the onboarding of account {account}")
    _finish(0)


@persona_app.command("validate")
def persona_validate(config: Path) -> None:
    """Check a persona file without starting anything."""
    try:
        parsed = load_persona_config(config)
    except ops.OperatorError as exc:
        fail(str(exc))
    print(f"{config}: ok (workflow id {parsed.workflow_id}, {len(parsed.sources)} sources)")
    _finish(0)


@persona_app.command("start")
def persona_start(
    config: Path,
    account: Annotated[str, typer.Option(help="Credentials in the worker's secret store to act as.")] = "main",
    time_scale: TimeScale = 1.0,
) -> None:
    """Start a persona's content loop from CONFIG (TOML); nothing starts if the file is invalid."""
    try:
        parsed = load_persona_config(config)
        timing = Timing(time_scale=time_scale)
    except ops.OperatorError as exc:
        fail(str(exc))
    _refuse_early(lambda: _account_name(account))

    handle, started = run(lambda client: ops.start_persona(client, account, parsed, timing, task_queue()))
    print(f"persona workflow {handle.id} {'started' if started else 'is already running (nothing changed)'}")
    _finish(0)


@app.command()
def approve(post_id: str) -> None:
    """Approve a post that waits for a decision (POST_ID from `status`)."""
    _refuse_early(lambda: ops.check_post_id(post_id))
    workflow_id = run(lambda client: ops.decide(client, post_id, approve=True))
    print(f"approved {post_id} ({workflow_id})")
    _finish(0)


@app.command()
def reject(post_id: str, reason: Annotated[str, typer.Option(help="Why, kept with the post.")] = "") -> None:
    """Reject a post that waits for a decision."""
    _refuse_early(lambda: ops.check_post_id(post_id))
    workflow_id = run(lambda client: ops.decide(client, post_id, approve=False, reason=reason or None))
    print(f"rejected {post_id} ({workflow_id})")
    _finish(0)


@app.command()
def retry(target: str) -> None:
    """Resume work parked on answers that stayed unusable, after an upgrade or a vendor fix.

    TARGET: a persona slug (its posts hear it too), a post id, or an onboarding's workflow id."""
    _refuse_early(lambda: ops.check_post_id(target))
    workflow_id = run(lambda client: ops.retry(client, target))
    print(f"told {workflow_id} to retry")
    _finish(0)


def _persona_signal(signal: ops.PersonaSignal, done: str) -> Callable[[str], None]:
    def command(persona: str) -> None:
        run(lambda client: ops.signal_persona(client, persona, signal))
        print(f"{persona}: {done}")
        _finish(0)

    return command


app.command("pause", help="Start no new cycles for PERSONA (posts in flight go on).")(
    _persona_signal(PersonaLoopWorkflow.pause, "paused")
)
app.command("resume", help="Resume a paused PERSONA.")(_persona_signal(PersonaLoopWorkflow.resume, "resumed"))
app.command("topped-up", help="Tell a PERSONA parked on an empty balance that credits were added.")(
    _persona_signal(PersonaLoopWorkflow.topped_up, "told about the top-up")
)
app.command("credentials-updated", help="Tell a PERSONA parked on a bad key that the key was fixed.")(
    _persona_signal(PersonaLoopWorkflow.credentials_updated, "told about the new credentials")
)


@app.command()
def status(
    persona: Annotated[str | None, typer.Argument(help="Slug; all running personas when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Personas and the posts waiting for approval."""
    statuses = run(lambda client: ops.persona_statuses(client, persona))
    if as_json:
        print(json.dumps([s.model_dump(mode="json") for s in statuses], indent=2))
    else:
        now = datetime.now(UTC)
        console.print(personas_table(statuses, now))
        console.print(approvals_table(statuses, now))
    _finish(0)


@app.command()
def watch(
    persona: Annotated[str | None, typer.Argument(help="Slug; all running personas when omitted.")] = None,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
) -> None:
    """Live view of personas and pending approvals until Ctrl-C."""

    async def action(client: Client) -> None:
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                statuses = await ops.persona_statuses(client, persona)
                now = datetime.now(UTC)
                live.update(Group(personas_table(statuses, now), approvals_table(statuses, now)))
                await asyncio.sleep(interval)

    run(action)


@account_app.command("import-key")
def import_key(
    account: str,
    secrets_dir: Annotated[
        Path | None, typer.Option(help="A file store directory; defaults to the store the worker settings select.")
    ] = None,
) -> None:
    """Store an existing rm_ API key (read from standard input) for ACCOUNT, for use without onboarding.

    It goes to the store the workers read: REELMIRROR_SECRETS_URL (the shared PostgreSQL store, sealed with
    the codec keys) when set, else the files under REELMIRROR_SECRETS_DIR.
    """
    from activities.secret_store_select import SECRETS_URL_ENV, open_secret_store
    from activities.secrets import SecretStoreError
    from activities.settings import ActivitySettings

    _refuse_early(lambda: _account_name(account, "ACCOUNT"))
    key = sys.stdin.readline().strip()
    if not key.startswith("rm_"):
        fail("standard input must hold the API key, starting with rm_")
    try:
        settings = ActivitySettings.from_env()
    except ValueError as exc:
        fail(str(exc))
    if secrets_dir is not None:
        if settings.secrets_url is not None:
            fail(f"--secrets-dir and {SECRETS_URL_ENV} select different stores; unset one of them")
        settings = settings.model_copy(update={"secrets_dir": secrets_dir})

    async def store_key() -> str:
        store = await open_secret_store(settings)
        try:
            await store.put(account, "api_key", key)
        finally:
            await store.aclose()
        return store.describe()

    try:
        where = asyncio.run(store_key())
    except (ValueError, SecretStoreError) as exc:
        fail(str(exc))
    print(f"API key stored for account {account!r} in the {where}")
    _finish(0)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; usage errors become one `error:` line and exit 2 instead of click's framed block."""
    try:
        app(args=argv, standalone_mode=False, prog_name="starter.py")
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "starter.py"
        fail(f"{exc.format_message()} (see `{command} --help`)")
    except typer.Abort:
        _finish(130)
    _finish(0)


if __name__ == "__main__":
    main()
