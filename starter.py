"""The operator's command line: onboard accounts, start and stop personas, decide on posts, watch, bill.

Every failure is one line starting with `error:` and an exit code (`control.errors.ExitCode`): 1 when
Temporal cannot be reached or no worker answers, 2 for bad input (refused before anything starts, or a
persona, post or workflow that does not exist), 3 when a workflow refuses (a decision that came too late,
a persona file it cannot take), 4 when the work failed (a workflow failed while we waited, the worker
could not do it). Connection settings come from temporalio's environment configuration
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, ...); the payload key the worker uses
(REELMIRROR_CODEC_KEYS or REELMIRROR_CODEC_KEY_FILE) is required here too, since what the CLI sends and
reads is encrypted (REELMIRROR_CODEC=off opts out, on both sides).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel, ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text
from temporalio.client import Client
from temporalio.service import RPCError
from typer._click.exceptions import UsageError  # typer vendors click and exports no alias

from activities.secrets import SecretStoreError
from codec import CodecConfigError
from control import account as accounts
from control import decisions, lifecycle, ops
from control.config_file import describe_validation_error, load_persona_config
from control.connection import connect, task_queue
from control.errors import ExitCode, OperatorError, Unavailable, explain
from control.fleet import StatusCollector
from control.posts import post_view
from control.render import (
    account_lines,
    decision_lines,
    fleet_header,
    fleet_table,
    onboarding_lines,
    persona_list_table,
    post_view_text,
)
from control.telemetry import configure_tracing
from control.workers import pollers
from observability.settings import span_exporter_from_env
from workflows.config import AutoReloadConfig, OnboardingInput, PersonaConfig
from workflows.models import AccountReply, AccountRequest, PersonaStatus
from workflows.persona_loop import PersonaLoopWorkflow
from workflows.policies import Timing

T = TypeVar("T")

app = typer.Typer(
    help="Run ReelMirror bots durably on Temporal: onboard accounts, start personas, decide on posts, watch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
persona_app = typer.Typer(help="Start, change, stop and list persona loops (TOML config files).", no_args_is_help=True)
account_app = typer.Typer(help="The account's balance and billing, and credentials in the worker's secret store.",
                          no_args_is_help=True)  # fmt: skip
onboard_app = typer.Typer(
    help="Sign up, confirm the e-mail, create the API key and optionally attach a card (`onboard status` "
    "reports where an onboarding stands).",
    invoke_without_command=True,
)
app.add_typer(persona_app, name="persona")
app.add_typer(account_app, name="account")
app.add_typer(onboard_app, name="onboard")
# Wide enough for the tables when the output is a pipe or a log (rich assumes 80 columns there); COLUMNS wins.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 180)

TimeScale = Annotated[
    float,
    typer.Option(min=0.0001, max=1.0, help="Shrink every wait (rehearsals against the simulator at the same scale)."),
]
Account = Annotated[str, typer.Option(help="The account (its credentials in the worker's secret store).")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _finish(code: int) -> None:
    """Exit without interpreter teardown: avoids the SDK's PyGILState_Release abort (sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message: str, code: int = ExitCode.BAD_INPUT) -> None:
    print(f"error: {message}", file=sys.stderr)
    _finish(code)


def _fail_on(exc: BaseException) -> None:
    """Any failure as one line and its exit code; an unknown one (a bug) too, its traceback on request."""
    explained = explain(exc)
    if explained is not None:
        fail(str(explained), explained.exit_code)
    if isinstance(exc, SecretStoreError | OSError):
        fail(f"the secret store cannot be used: {exc}", ExitCode.FAILED)
    if os.environ.get("REELMIRROR_DEBUG"):
        traceback.print_exception(exc)
    fail(f"unexpected {type(exc).__name__}: {exc} (set REELMIRROR_DEBUG=1 for the traceback)", ExitCode.FAILED)


def _account_name(account: str, label: str = "--account") -> str:
    return accounts.account_name(account, label)


def _refuse_early(check: Callable[[], object]) -> None:
    """Validate before connecting, so bad input never reaches Temporal."""
    try:
        check()
    except OperatorError as exc:
        fail(str(exc), exc.exit_code)


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
    """Connect, run one operation, and turn every failure into one line and an exit code."""

    async def main() -> T:
        try:
            client = await connect()
        except CodecConfigError as exc:
            fail(str(exc))
        except (RuntimeError, RPCError) as exc:
            raise Unavailable(f"cannot reach Temporal ({exc}); check TEMPORAL_ADDRESS") from None
        return await action(client)

    provider = _tracing()
    try:
        try:
            return asyncio.run(main())
        finally:
            if provider is not None:
                provider.shutdown()  # send the spans before `_finish` skips interpreter teardown
    except KeyboardInterrupt:
        _finish(ExitCode.INTERRUPTED)
    except Exception as exc:
        _fail_on(exc)
    raise AssertionError("unreachable")


def _print_json(value: BaseModel | list[BaseModel]) -> None:
    data = [v.model_dump(mode="json") for v in value] if isinstance(value, list) else value.model_dump(mode="json")
    print(json.dumps(data, indent=2))


# --- onboarding ----------------------------------------------------------------------------------------

ONBOARD_FLAGS = {"email": "--email", "account_ref": "--account", "confirmation": "--confirmation"}


@onboard_app.callback()
def onboard(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="E-mail for the new ReelMirror account.")] = None,
    account: Annotated[str, typer.Option(help="Name of the credentials in the worker's secret store.")] = "main",
    card: Annotated[bool, typer.Option(help="Attach the configured payment method (unlocks the $5 bonus).")] = False,
    auto_reload: Annotated[bool, typer.Option(help="Enable auto-reload (needs --card).")] = False,
    reload_threshold_cents: int = 500,
    reload_amount_cents: int = 2500,
    confirmation: Annotated[str, typer.Option(help="mailbox (worker reads it) or signal (confirm-email).")] = "mailbox",
    time_scale: TimeScale = 1.0,
    wait: Annotated[bool, typer.Option(help="Show the stages live and wait for the account summary.")] = True,
) -> None:
    """Sign up, confirm the e-mail, create the API key and optionally attach a card: one workflow per account."""
    if ctx.invoked_subcommand is not None:
        return
    if email is None:
        fail("--email is required (or `starter.py onboard status EMAIL|ACCOUNT`)")
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
        print(f"onboarding workflow {handle.id} running", flush=True)
        if wait:
            summary = await accounts.follow_onboarding(client, handle, task_queue(), _print_stamped)
            print(json.dumps(summary.model_dump(mode="json"), indent=2))

    run(action)
    _finish(0)


def _print_stamped(line: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S}  {line}", flush=True)


@onboard_app.command("status")
def onboard_status(target: Annotated[str, typer.Argument(metavar="EMAIL|ACCOUNT")], as_json: AsJson = False) -> None:
    """Where the onboarding of an e-mail address (or of an account name) stands."""
    if "@" not in target:
        _refuse_early(lambda: _account_name(target, "EMAIL|ACCOUNT"))

    async def action(client: Client) -> accounts.OnboardingView:
        workflow_id = await accounts.find_onboarding(client, target)
        ask = ops.QUERY_TIMEOUT if (await pollers(client, task_queue())).any else timedelta(0)
        return await accounts.onboarding_view(client, workflow_id, ask)

    view = run(action)
    if as_json:
        _print_json(view)
    else:
        console.print("\n".join(onboarding_lines(view)))
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


# --- personas ------------------------------------------------------------------------------------------


def _persona_file(config: Path) -> PersonaConfig:
    try:
        return load_persona_config(config)
    except OperatorError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


@persona_app.command("validate")
def persona_validate(config: Path) -> None:
    """Check a persona file without starting anything."""
    parsed = _persona_file(config)
    print(f"{config}: ok (workflow id {parsed.workflow_id}, {len(parsed.sources)} sources)")
    _finish(0)


@persona_app.command("start")
def persona_start(config: Path, account: Account = "main", time_scale: TimeScale = 1.0) -> None:
    """Start a persona's content loop from CONFIG (TOML); nothing starts if the file is invalid."""
    parsed = _persona_file(config)
    timing = Timing(time_scale=time_scale)
    _refuse_early(lambda: _account_name(account))
    handle, started = run(lambda client: ops.start_persona(client, account, parsed, timing, task_queue()))
    print(f"persona workflow {handle.id} {'started' if started else 'is already running with this configuration'}")
    _finish(0)


@persona_app.command("update")
def persona_update(config: Path) -> None:
    """Apply an edited persona file to the running loop at its next cycle (sources and modes, targets,
    approval, budget, interval, alerts); the reply lists what changes."""
    parsed = _persona_file(config)
    reply = run(lambda client: lifecycle.update_persona(client, parsed, task_queue()))
    print(f"{reply.workflow_id}: accepted; at its next cycle:")
    for change in reply.changes:
        print(f"  {change}")
    _finish(0)


@persona_app.command("stop")
def persona_stop(
    persona: str,
    now: Annotated[bool, typer.Option("--now", help="Cancel the posts in flight too (each ends 'cancelled').")] = False,
) -> None:
    """Stop PERSONA: no new cycle; posts in flight finish (or, with --now, are cancelled); then it ends."""
    reply = run(lambda client: lifecycle.stop_persona(client, persona, task_queue(), now=now))
    state = "was stopping already" if reply.already_stopping else "stopping"
    print(f"{reply.workflow_id}: {state}; {reply.posts_in_flight} post(s) in flight")
    if reply.cancelled:
        print(f"  cancelled: {', '.join(reply.cancelled)}")
    if reply.parked_reason:
        parked = "cancelled its workflow" if now else "it stops when the park ends (or use --now)"
        print(f"  parked ({reply.parked_reason}): {parked}")
    _finish(0)


@persona_app.command("list")
def persona_list(
    everything: Annotated[bool, typer.Option("--all", help="Also finished, failed and cancelled personas.")] = False,
    as_json: AsJson = False,
) -> None:
    """Personas by state: running, paused, parked (and with --all: finished, failed, cancelled)."""
    entries = run(lambda client: lifecycle.list_personas(client, everything=everything))
    if as_json:
        _print_json(entries)
    else:
        console.print(persona_list_table(entries))
    _finish(0)


# --- decisions -----------------------------------------------------------------------------------------

PostIds = Annotated[list[str] | None, typer.Argument(metavar="[POST_ID]...", help="Post ids from `status`.")]
PersonaOpt = Annotated[str | None, typer.Option("--persona", help="With --all: every waiting post of PERSONA.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every post of --persona that waits for a decision.")]


def _decide(post_ids: list[str] | None, persona: str | None, every: bool, *, approve: bool, reason: str | None) -> None:
    """One post: one line, exit 0 or the refusal's code. Several (or --all): a line each and a summary."""
    ids = list(post_ids or [])
    if every != bool(persona) or (every and ids) or (not every and not ids):
        fail("give POST_ID... or --persona PERSONA --all")
    for name in [*ids, *([persona] if persona else [])]:  # ids and slugs go into a visibility query
        _refuse_early(lambda name=name: decisions.check_post_id(name))
    verb = "approved" if approve else "rejected"

    if len(ids) == 1 and not every:
        reply = run(lambda client: ops.decide(client, ids[0], approve=approve, reason=reason))
        print(f"{verb} {ids[0]} ({reply.workflow_id})")
        _finish(0)

    async def action(client: Client) -> list[decisions.Outcome]:
        targets = await decisions.waiting_posts(client, persona) if every and persona else ids
        if not targets:
            return []
        return await decisions.decide_many(client, targets, task_queue(), approve=approve, reason=reason)

    outcomes = run(action)
    if not outcomes:
        print(f"no post of {persona} waits for a decision")
        _finish(0)
    lines, summary = decision_lines(outcomes, approve=approve)
    for line in lines:
        print(line)
    print(summary)
    if all(o.accepted for o in outcomes):
        _finish(0)
    print(f"error: {summary}", file=sys.stderr)
    _finish(ExitCode.REFUSED)


@app.command()
def approve(post_ids: PostIds = None, persona: PersonaOpt = None, every: AllOpt = False) -> None:
    """Approve posts waiting for a decision; each answer comes from the post's workflow (accepted, or why not)."""
    _decide(post_ids, persona, every, approve=True, reason=None)


@app.command()
def reject(
    post_ids: PostIds = None,
    persona: PersonaOpt = None,
    every: AllOpt = False,
    reason: Annotated[str, typer.Option(help="Why, kept with the post.")] = "",
) -> None:
    """Reject posts waiting for a decision, answered like approve."""
    _decide(post_ids, persona, every, approve=False, reason=reason or None)


@app.command()
def show(post_id: Annotated[str, typer.Argument(help="A generated post id or a post workflow id.")],
         as_json: AsJson = False) -> None:  # fmt: skip
    """One post in full: caption, media, source post, cost, persona, each stage with its time, deliveries."""
    _refuse_early(lambda: decisions.check_post_id(post_id))

    async def action(client: Client):  # type: ignore[no-untyped-def]
        return await post_view(client, post_id, ask_worker=(await pollers(client, task_queue())).any)

    view = run(action)
    if as_json:
        _print_json(view)
    else:
        console.print("\n".join(post_view_text(view)), soft_wrap=True)
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


PersonaArg = Annotated[str | None, typer.Argument(help="A persona slug; every persona when omitted.")]
ProblemsOpt = Annotated[bool, typer.Option("--problems", help="Only personas and posts that need you.")]
PersonaFilter = Annotated[str | None, typer.Option("--persona", help="Only this persona.")]


def _one_persona(argument: str | None, option: str | None) -> str | None:
    if argument and option and argument != option:
        fail("give the persona once (PERSONA or --persona)")
    slug = (argument or option or "").removeprefix("persona-") or None
    if slug is not None:
        _refuse_early(lambda: decisions.check_post_id(slug))
    return slug


@app.command()
def status(
    persona: PersonaArg = None,
    persona_option: PersonaFilter = None,
    problems: ProblemsOpt = False,
    as_json: AsJson = False,
) -> None:
    """Personas and, under each, every post that needs you: waiting for a decision, parked, retrying, failed.

    Answers within seconds with no worker running (from the server's view) and says so."""
    slug = _one_persona(persona, persona_option)
    fleet = run(lambda client: StatusCollector(client, task_queue(), persona=slug).collect())
    if problems:
        fleet.personas = [p for p in fleet.personas if p.problems]
    if as_json:
        _print_json(fleet)
    else:
        for line in fleet_header(fleet):
            console.print(line)
        console.print(fleet_table(fleet, problems_only=problems))
    _finish(0)


@app.command()
def watch(
    persona: PersonaArg = None,
    persona_option: PersonaFilter = None,
    problems: ProblemsOpt = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
) -> None:
    """`status`, live, until Ctrl-C: one listing per refresh; queries only for what changed (or grew old)."""
    slug = _one_persona(persona, persona_option)

    async def action(client: Client) -> None:
        collector = StatusCollector(client, task_queue(), persona=slug, query_ttl=30, describe_ttl=15, balance_ttl=60)
        with Live(console=console, refresh_per_second=4) as live:
            while True:
                try:
                    fleet = await collector.collect()
                except Exception as exc:
                    explained = explain(exc)
                    if explained is None:
                        raise
                    live.update(Text(f"error: {explained} (trying again)", style="red"))
                else:
                    header = [Text.from_markup(line) for line in fleet_header(fleet)]
                    live.update(Group(*header, fleet_table(fleet, problems_only=problems)))
                await asyncio.sleep(interval)

    run(action)


# --- account and billing -------------------------------------------------------------------------------


@account_app.command("status")
def account_status(account: Account = "main", as_json: AsJson = False) -> None:
    """Balance, auto-reload, card on file, the stored key, and credits spent today per persona."""
    _refuse_early(lambda: _account_name(account))
    request = AccountRequest(account_ref=account, action="status")

    async def action(client: Client) -> tuple[AccountReply, list[PersonaStatus]]:
        reply = await accounts.run_account_request(client, request, task_queue())
        try:
            personas = await ops.persona_statuses(client)
        except OperatorError:
            personas = []  # spending per persona is extra; the balance is what was asked for
        return reply, personas

    reply, personas = run(action)
    if as_json:
        _print_json(reply)
    else:
        console.print("\n".join(account_lines(reply, personas)))
    _finish(0)


AmountArg = Annotated[str, typer.Argument(help="Dollars, e.g. 25 or 25.50.")]


@account_app.command("topup")
def account_topup(amount: AmountArg, account: Account = "main") -> None:
    """Ask for a Stripe Checkout link that adds AMOUNT dollars; a human opens it and pays."""
    _refuse_early(lambda: _account_name(account))
    cents = _amount_or_fail(amount, "AMOUNT")
    request = AccountRequest(account_ref=account, action="topup", amount_cents=cents)
    reply = run(lambda client: accounts.run_account_request(client, request, task_queue()))
    print(f"open this link to add ${cents / 100:.2f} to account {account}:")
    print(reply.checkout_url)
    print("after paying, parked work resumes at its next balance check, or at once: starter.py topped-up PERSONA")
    _finish(0)


@account_app.command("auto-reload")
def account_auto_reload(
    state: Annotated[str, typer.Argument(metavar="on|off", help="on or off.")],
    threshold: Annotated[str, typer.Option(help="Reload when the balance falls below this many dollars.")] = "5",
    amount: Annotated[str, typer.Option(help="Dollars to add each time.")] = "25",
    account: Account = "main",
) -> None:
    """Turn auto-reload on (with --threshold and --amount) or off; it needs a card on file."""
    if state not in ("on", "off"):
        fail(f"auto-reload is 'on' or 'off', not {state!r}")
    _refuse_early(lambda: _account_name(account))
    request = AccountRequest(
        account_ref=account, action="auto_reload", auto_reload=state == "on",
        reload_threshold_cents=_amount_or_fail(threshold, "--threshold"),
        reload_amount_cents=_amount_or_fail(amount, "--amount"),
    )  # fmt: skip
    reply = run(lambda client: accounts.run_account_request(client, request, task_queue()))
    b = reply.balance
    if b is not None and b.auto_reload:
        print(f"auto-reload on for {account}: ${(b.reload_amount_cents or 0) / 100:.2f} when the balance is below "
              f"${(b.reload_threshold_cents or 0) / 100:.2f}")  # fmt: skip
    else:
        print(f"auto-reload off for {account}")
    _finish(0)


def _amount_or_fail(text: str, label: str) -> int:
    try:
        return accounts.parse_amount(text, label)
    except OperatorError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


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
        _finish(ExitCode.INTERRUPTED)
    except Exception as exc:  # a command that fails outside `run` (the secret store of import-key)
        _fail_on(exc)
    _finish(0)


if __name__ == "__main__":
    main()
