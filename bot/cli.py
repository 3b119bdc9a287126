"""The `siyakha` command line: serve, migrate, import, demo data."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from bot.config import get_settings, problems
from bot.logs import configure_logging

# The event loop `siyakha serve` runs. asyncio's own, by default, not uvloop: in the
# webhook benchmark's closed loop of 32 connections, uvloop answered 2-3 % of requests a
# whole pass of the loop late (some 30 places after their turn in arrival order), doubling
# their wait, while asyncio's loop answered every request in turn at the same CPU per
# request: p99 was lower in every paired run, by 4-33 % (bench/HISTORY.md).
ServeLoop = Literal["asyncio", "uvloop"]


app = typer.Typer(help="Siyakha: residents and their municipality, over WhatsApp and SMS.")
db_app = typer.Typer(help="Database schema.")
i18n_app = typer.Typer(help="Translations.")
import_app = typer.Typer(help="Import CSV files (all rows or none).")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(i18n_app, name="i18n")
user_app = typer.Typer(help="Staff users.")
token_app = typer.Typer(help="Staff API tokens.")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@app.callback()
def _main() -> None:
    try:
        settings = get_settings()
    except (ValidationError, SettingsError) as exc:  # one line each, not a traceback
        for problem in problems(exc):
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)


def _require_current_schema() -> None:
    """Stop with a clear message when the database lacks migrations (instead of a traceback
    about a missing table)."""
    from bot import migrate

    if not migrate.is_current():
        typer.echo(
            "The database is not up to date: run `siyakha db upgrade` first "
            "(`make run` does it for the demo).",
            err=True,
        )
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply pending migrations."""
    from bot import migrate

    migrate.upgrade(revision=revision)
    typer.echo(f"database at {revision}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="apply pending migrations first")
    ] = True,
    workers: int = 1,
    loop: Annotated[
        ServeLoop, typer.Option(help="the event loop (see README: Benchmarks)")
    ] = "asyncio",
) -> None:
    """Serve the webhooks, API, dashboard and (in dev) the simulator."""
    if get_settings().env == "dev" and not _loopback(host):
        typer.echo(
            f"SIYAKHA_ENV is dev, which serves the simulator: anyone who reaches {host} could "
            "write as any resident and read what is sent to them. Set SIYAKHA_ENV=production "
            "(or test) to serve on this address; `siyakha dev` serves a demo on it.",
            err=True,
        )
        raise typer.Exit(2)
    _serve(host=host, port=port, migrate_first=migrate_first, workers=workers, loop=loop)


def _loopback(host: str) -> bool:
    """Return whether `host` is reachable from this machine only."""
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _serve(
    *, host: str, port: int, migrate_first: bool, workers: int, loop: ServeLoop = "asyncio"
) -> None:
    import uvicorn

    from bot import migrate

    if migrate_first:
        migrate.upgrade()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop=loop,
        proxy_headers=True,
        forwarded_allow_ips=get_settings().forwarded_allow_ips,
        log_config=None,
    )


@app.command()
def chat(
    phone: Annotated[str, typer.Option(help="the simulated resident's number")] = "0825550100",
    channel: Annotated[str, typer.Option(help="sms or whatsapp")] = "sms",
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="apply pending migrations first")
    ] = True,
) -> None:
    """Chat with the bot in this terminal, as a resident would over SMS or WhatsApp (only
    warnings and errors are logged meanwhile, so that the log stays out of the chat)."""
    import logging
    import secrets

    from api.deps import converse_for
    from bot import migrate, sms
    from bot.db import session_scope, utcnow
    from bot.domain.messages import service as messages
    from bot.engine.messages import Inbound
    from bot.phones import InvalidPhone, normalise

    if channel not in ("sms", "whatsapp"):
        raise typer.BadParameter("channel must be sms or whatsapp")
    try:
        number = normalise(phone)
    except InvalidPhone as exc:
        raise typer.BadParameter(str(exc)) from None
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        if migrate_first:
            migrate.upgrade()
        else:
            _require_current_schema()
        _replace_undecodable_input()
        typer.echo(f"Chatting as {number} over {channel}. Ctrl-D to leave.")
        while True:
            try:
                text = input("you> ")
            except EOFError:
                typer.echo("")
                return
            if not text.strip():  # no phone sends an empty message: Enter alone is nothing
                continue
            now = utcnow()
            inbound = Inbound(
                message_id="CLI" + secrets.token_hex(16),
                phone=number,
                channel=channel,  # type: ignore[arg-type]
                text=sms.sendable(text),  # as the webhook has it
                received_at=now,
            )
            with session_scope() as session:
                replies = messages.receive(
                    session=session, inbound=inbound, converse=converse_for(session), now=now
                )
            for reply in replies:
                typer.echo(reply)
                if channel == "sms":
                    typer.echo(f"  [{sms.segments(reply)} segment(s), {sms.encoding(reply)}]")
    finally:
        root.setLevel(level)


def _replace_undecodable_input() -> None:
    """Read bytes that are not valid UTF-8 (or the terminal's encoding) as U+FFFD."""
    import sys

    # Otherwise they end the chat: a strict stdin raises, and one with surrogateescape (the
    # C and POSIX locales) hands on lone surrogates that no database can store.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")


@app.command()
def worker() -> None:
    """Deliver the outbox and run scheduled jobs until stopped (SIGTERM or Ctrl-C)."""
    from bot import worker as outbox_worker

    outbox_worker.run(get_settings())


@app.command()
def dev(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve with a worker beside it, as `make run` does: one command for the whole demo.
    Unless SIYAKHA_PUBLIC_URL is set, it is http://HOST:PORT, so that webhooks signed for
    the address served (e.g. `make run PORT=8776`) pass the signature check."""
    import os
    import signal
    import subprocess
    import sys

    from bot import migrate

    if "public_url" not in get_settings().model_fields_set:
        os.environ["SIYAKHA_PUBLIC_URL"] = f"http://{host}:{port}"  # the worker's too
        get_settings.cache_clear()

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    # uvicorn re-raises the SIGTERM it shut down on once it has restored this handler; by
    # default that would end the process here and orphan the worker.
    signal.signal(signal.SIGTERM, stop)
    migrate.upgrade()
    worker_process = subprocess.Popen([sys.executable, "-m", "bot.worker"])
    try:
        _serve(host=host, port=port, migrate_first=False, workers=1)
    finally:
        worker_process.terminate()
        try:
            worker_process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker_process.kill()


@i18n_app.command("report")
def i18n_report() -> None:
    """Print, per language, the share translated and reviewed and the SMS cost."""
    from bot import i18n_tools

    typer.echo(i18n_tools.report())


CheckOnly = Annotated[
    bool,
    typer.Option(
        "--check-only",
        "--dry-run",
        help="run the whole import and print what it would do, writing nothing",
    ),
]


OverwriteEdits = Annotated[
    bool,
    typer.Option(
        "--overwrite-edits",
        help="let the file win over what people changed on the dashboard or with the API "
        "since the last import (and create again the rows they deleted): without it such a "
        "file is refused, each change listed",
    ),
]


def _import(kind: str, path: Path, check_only: bool, overwrite_edits: bool) -> None:
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.settlements.importer import (
        EDITS_NOTE,
        EditsInTheWay,
        ImportRejected,
        audit_detail,
        import_csv,
        iter_lines,
    )
    from bot.domain.staff import audit

    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    try:
        with session_scope() as session:
            result = import_csv(
                session=session,
                kind=kind,  # type: ignore[arg-type]
                data=data,
                dry_run=check_only,
                overwrite_edits=overwrite_edits,
            )
            if not check_only:  # no staff user: the audit log names the command line
                detail = audit_detail(result, None, overwrite_edits=overwrite_edits)
                audit.record(
                    session=session,
                    user=None,
                    action=f"import.{kind}",
                    target=path.name,
                    detail={"via": "cli", **detail},
                )
    except ImportRejected as rejected:
        typer.echo(f"{path}: {rejected}.", err=True)
        for error in rejected.errors:
            typer.echo(f"  {error}", err=True)
        if isinstance(rejected, EditsInTheWay):
            typer.echo(EDITS_NOTE, err=True)
        raise typer.Exit(1) from None
    for line in iter_lines(result, public_url=get_settings().public_url):
        typer.echo(line)


@import_app.command("settlements")
def import_settlements(
    path: Path, check_only: CheckOnly = False, overwrite_edits: OverwriteEdits = False
) -> None:
    """Import settlements: name, aliases, ward, municipality, category, category_note,
    current_phase."""
    _import("settlements", path, check_only, overwrite_edits)


@import_app.command("milestones")
def import_milestones(
    path: Path, check_only: CheckOnly = False, overwrite_edits: OverwriteEdits = False
) -> None:
    """Import milestones: settlement, strand, title, target_date, status, note."""
    _import("milestones", path, check_only, overwrite_edits)


@import_app.command("meetings")
def import_meetings(
    path: Path, check_only: CheckOnly = False, overwrite_edits: OverwriteEdits = False
) -> None:
    """Import meetings: settlement, ward, level, title, starts_at, venue."""
    _import("meetings", path, check_only, overwrite_edits)


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="load only when there are no settlements yet")
    ] = False,
) -> None:
    """Load the fictional demo municipality (dates relative to today)."""
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.settlements import demo as demo_data
    from bot.domain.settlements import service as settlements
    from bot.domain.settlements.importer import iter_lines

    with session_scope() as session:
        if if_empty and settlements.count(session=session):
            typer.echo("settlements already present; demo data not loaded")
            return
        for result in demo_data.load(session=session):
            for line in iter_lines(result, public_url=get_settings().public_url):
                typer.echo(line)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="the user's email address (their login)")],
    role: Annotated[str, typer.Option(help="admin, officer or triage")],
    password: Annotated[
        str | None,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="at least 10 characters; asked for when not given",
        ),
    ] = None,
    settlement: Annotated[
        list[str] | None,
        typer.Option(help="limit the user to this settlement (by name; repeatable)"),
    ] = None,
    ward: Annotated[
        list[str] | None,
        typer.Option(help="limit the user to this ward, one a settlement is in (repeatable)"),
    ] = None,
) -> None:
    """Add a staff user (the password is stored as an argon2 hash), optionally scoped."""
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.settlements import service as settlements
    from bot.domain.staff import scope as scopes
    from bot.domain.staff import service as staff

    try:
        with session_scope() as session:
            user = staff.create_user(session=session, email=email, role=role, password=password)
            ids: list[int] = []
            for name in settlement or []:
                found = settlements.by_name(session=session, name=name)
                if len(found) != 1 or found[0].id is None:
                    raise staff.StaffError(f"no single settlement named {name}")
                ids.append(found[0].id)
            # As the settlements spell them: scopes compare wards as stored.
            wards = settlements.spell_wards(session=session, wards=ward or [])
            scope = scopes.set_scope(session=session, user=user, settlement_ids=ids, wards=wards)
            typer.echo(f"created {user.role} user {user.email} (sees {scope.describe()})")
            if user.role == "admin" and not scope.unrestricted:
                typer.echo(
                    "an admin with a scope works tickets and places within it; managing "
                    "users, imports and the audit log need an admin with no scope"
                )
    except (staff.StaffError, settlements.UnknownWard) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="the staff user the token is for")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. a system's name")] = "",
) -> None:
    """Issue an API token for a staff user; it is shown once and stored only as a hash."""
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.staff import service as staff

    with session_scope() as session:
        user = staff.get_by_email(session=session, email=email)
        if user is None or not user.is_active:
            typer.echo(f"no active staff user {email}", err=True)
            raise typer.Exit(1)
        _row, token = staff.create_token(session=session, user=user, name=name)
    typer.echo(token)


@token_app.command("list")
def token_list(
    email: Annotated[str | None, typer.Option(help="only this staff user's tokens")] = None,
) -> None:
    """List API tokens: id, user, name, the token's first characters, when made and last
    used, and whether revoked (the tokens themselves are not stored)."""
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.staff import service as staff

    def when(moment: dt.datetime | None) -> str:
        return moment.strftime("%Y-%m-%d %H:%M") if moment else "never"

    with session_scope() as session:
        rows = staff.tokens(session=session, email=email)
        for token, user_email in rows:
            state = f"revoked {when(token.revoked_at)}" if token.revoked_at else "active"
            typer.echo(
                f"{token.id}\t{user_email}\t{token.name or '-'}\t{token.prefix}...\t"
                f"made {when(token.created_at)}\tused {when(token.last_used_at)}\t{state}"
            )
    if not rows:
        typer.echo("no tokens", err=True)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the id `token list` shows")],
) -> None:
    """Revoke an API token at once (a leaked one, or a system retired)."""
    _require_current_schema()
    from bot.db import session_scope
    from bot.domain.staff import service as staff

    with session_scope() as session:
        revoked = staff.revoke_token(session=session, token_id=token_id)
    if not revoked:
        typer.echo(f"no active token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"token {token_id} revoked")


if __name__ == "__main__":
    app()
