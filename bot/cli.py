"""The `siyakha` command line: serve, migrate, import, demo data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.config import get_settings
from bot.logs import configure_logging

app = typer.Typer(help="Siyakha: residents and their municipality, over WhatsApp and SMS.")
db_app = typer.Typer(help="Database schema.")
import_app = typer.Typer(help="Import CSV files (all rows or none).")
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")


@app.callback()
def _main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


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
) -> None:
    """Serve the webhooks, API, dashboard and (in dev) the simulator."""
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
        proxy_headers=True,
        log_config=None,
    )


@app.command()
def chat(
    phone: Annotated[str, typer.Option(help="the simulated resident's number")] = "0825550100",
    channel: Annotated[str, typer.Option(help="sms or whatsapp")] = "sms",
) -> None:
    """Chat with the bot in this terminal, as a resident would over SMS or WhatsApp."""
    import secrets

    from api.deps import converse_for
    from bot import sms
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
    typer.echo(f"Chatting as {number} over {channel}. Ctrl-D to leave.")
    while True:
        try:
            text = input("you> ")
        except EOFError:
            typer.echo("")
            return
        now = utcnow()
        inbound = Inbound(
            message_id="CLI" + secrets.token_hex(16),
            phone=number,
            channel=channel,  # type: ignore[arg-type]
            text=text,
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


def _import(kind: str, path: Path) -> None:
    from bot.db import session_scope
    from bot.domain.settlements.importer import ImportRejected, import_csv, iter_lines

    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.echo(f"cannot read {path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    try:
        with session_scope() as session:
            result = import_csv(session=session, kind=kind, data=data)  # type: ignore[arg-type]
    except ImportRejected as rejected:
        typer.echo(f"{path}: {len(rejected.errors)} problem(s); nothing was imported.", err=True)
        for error in rejected.errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1) from None
    for line in iter_lines(result):
        typer.echo(line)


@import_app.command("settlements")
def import_settlements(path: Path) -> None:
    """Import settlements: name, aliases, ward, municipality, category, category_note, phase."""
    _import("settlements", path)


@import_app.command("milestones")
def import_milestones(path: Path) -> None:
    """Import milestones: settlement, strand, title, target_date, status, note."""
    _import("milestones", path)


@import_app.command("meetings")
def import_meetings(path: Path) -> None:
    """Import meetings: settlement, ward, level, title, starts_at, venue."""
    _import("meetings", path)


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="load only when there are no settlements yet")
    ] = False,
) -> None:
    """Load the fictional demo municipality (dates relative to today)."""
    from bot.db import session_scope
    from bot.domain.settlements import demo as demo_data
    from bot.domain.settlements import service as settlements
    from bot.domain.settlements.importer import iter_lines

    with session_scope() as session:
        if if_empty and settlements.count(session=session):
            typer.echo("settlements already present; demo data not loaded")
            return
        for result in demo_data.load(session=session):
            for line in iter_lines(result):
                typer.echo(line)
