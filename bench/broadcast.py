"""Broadcast benchmark: audience selection + enqueue for 100,000 residents, and a drain at
a set rate against the local Twilio stand-in.

    .venv/bin/python bench/broadcast.py              # both engines, drain 10,000 at 250/s
    .venv/bin/python bench/broadcast.py --rate 100   # another rate (ideal time 10,000/rate)

Targets (issue 8): select + render + enqueue 100,000 residents across 5 languages in
<= 5 s on SQLite and on PostgreSQL (BENCH_DATABASE_URL, default the local server); a
10,000-recipient broadcast drained at a set rate finishes within 5 % of the ideal time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.common import PG_SERVER, postgres_database, sqlite_database  # noqa: E402
from bench.outbox import standin_process  # noqa: E402
from bot import migrate  # noqa: E402
from bot.channels.sender import TwilioSender  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import make_engine, session_scope, utcnow  # noqa: E402
from bot.domain.broadcasts import service as broadcasts  # noqa: E402
from bot.domain.broadcasts.models import Audience, BroadcastCreate  # noqa: E402
from bot.domain.outbox.delivery import DeliveryConfig, Dispatcher  # noqa: E402
from bot.domain.residents.models import Resident  # noqa: E402
from bot.domain.settlements.models import Settlement, name_key  # noqa: E402
from tests import TEST_SECRET_KEY  # noqa: E402
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

LANGUAGES = ("en", "xh", "zu", "af", "st")
TEXTS = {
    "en": "Water tanks arrive in every block on Monday morning. Bring containers.",
    "xh": "Iitanki zamanzi zifika kuzo zonke iibhloko ngoMvulo kusasa. Yiza nezitya.",
    "zu": "Amathange amanzi afika kuwo wonke amabhulokhi ngoMsombuluko ekuseni.",
    "af": "Watertenks kom Maandagoggend in elke blok aan. Bring houers.",
    "st": "Ditanka tsa metsi di fihla diblokong tsohle ka Mantaha hoseng.",
}


def populate(
    engine: Engine, count: int, *, settlements: int = 50, whatsapp_share: int = 3
) -> list[int]:
    """Add settlements and `count` consented residents over 5 languages (`whatsapp_share` in
    10 last wrote on WhatsApp; 1 in 50 opted out); return the settlement ids."""
    now = utcnow()
    with session_scope(engine) as session:
        places = [
            Settlement(
                name=f"Bench {n}",
                name_key=f"bench {n}",
                ward=str(n % 10),
                municipality="Bench Bay",
                municipality_key=name_key("Bench Bay"),
                category=("A", "B1", "B2", "C")[n % 4],
            )
            for n in range(settlements)
        ]
        session.add_all(places)
        session.flush()
        ids = [p.id for p in places if p.id is not None]
        rows = []
        for n in range(count):
            whatsapp = n % 10 < whatsapp_share
            rows.append(
                {
                    "phone": f"+2783{n:07d}",
                    "language": LANGUAGES[n % len(LANGUAGES)],
                    "settlement_id": ids[n % len(ids)],
                    "consented_at": now,
                    "consent_channel": "whatsapp" if whatsapp else "sms",
                    "last_inbound_whatsapp_at": now if whatsapp else None,
                    "last_inbound_sms_at": None if whatsapp else now,
                    "opted_out_at": now if n % 50 == 0 else None,
                    "conversation": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        table = Resident.__table__  # type: ignore[attr-defined]
        for start in range(0, len(rows), 10_000):
            session.execute(insert(table), rows[start : start + 10_000])
    return ids


def settings_for(url: str, **overrides: object) -> Settings:
    """Return settings for a benchmark database (no approval: it would stop the send)."""
    values: dict[str, object] = {
        "SIYAKHA_ENV": "test",
        "SIYAKHA_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": url,
        "SIYAKHA_BROADCAST_APPROVAL_THRESHOLD": 10_000_000,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]  # not ./.env


def time_broadcast(engine: Engine, settings: Settings, audience: Audience) -> tuple[float, int]:
    """Create a send-now broadcast (count, select, render, enqueue, commit); return s, rows."""
    started = time.perf_counter()
    with session_scope(engine) as session:
        broadcast = broadcasts.create(
            session=session,
            settings=settings,
            broadcast_in=BroadcastCreate(audience=audience, texts=TEXTS),
            staff=None,
        )
        rows = broadcast.enqueued_count
    return time.perf_counter() - started, rows


def enqueue_figures(label: str, url: str, count: int) -> None:
    """Print the enqueue time for `count` residents on one database."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    populate(engine, count)
    settings = settings_for(url)
    seconds, rows = time_broadcast(engine, settings, Audience(everyone=True))
    verdict = "ok" if seconds <= 5 else "OVER TARGET"
    print(
        f"select + enqueue {count:,} residents (5 languages) {label:<10} "
        f"{seconds:5.2f} s  ({rows:,} queued, opted-out left out; target <= 5 s: {verdict})"
    )
    engine.dispose()


def drain_figures(url: str, count: int, rate: float) -> None:
    """Queue a `count`-recipient SMS broadcast and drain it at `rate`; print ideal vs actual."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox"))
        connection.execute(text("DELETE FROM broadcast"))
        connection.execute(text("DELETE FROM resident"))
    # All SMS, 1 in 50 opted out: n residents leave exactly `count` to reach.
    total = next(n for n in range(count, 2 * count + 2) if n - (n + 49) // 50 == count)
    ids = populate(engine, total, whatsapp_share=0)
    with standin_process() as api:
        settings = settings_for(
            url,
            SIYAKHA_OUTBOUND="twilio",
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            SIYAKHA_TWILIO_API_URL=api,
            SIYAKHA_SMS_FROM="+27870000001",
            SIYAKHA_RATE_SMS=rate,
        )
        audience = Audience(settlement_ids=ids, channels=["sms"])
        with session_scope(engine) as session:
            preview = broadcasts.preview(
                session=session,
                settings=settings,
                audience=audience.model_dump(),
                texts=TEXTS,
                template=None,
                sms_fallback=False,
            )
        _, rows = time_broadcast(engine, settings, audience)
        config = DeliveryConfig.from_settings(settings)
        sender = TwilioSender(settings)
        started = time.perf_counter()
        dispatcher = Dispatcher(engine=engine, sender=sender, config=config, worker_id="bench")
        dispatcher.run(until_idle=True)
        actual = time.perf_counter() - started
    ideal = rows / rate
    print(
        f"drain {rows:,} SMS recipients at {rate:g} msg/s (SQLite, 1 worker): "
        f"ideal {ideal:.1f} s, preview estimate {preview.estimated_seconds:.1f} s, "
        f"actual {actual:.1f} s ({(actual - ideal) / ideal:+.1%}; target within 5 %)"
    )
    engine.dispose()


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--drain", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args()
    print(f"Siyakha broadcast benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    with sqlite_database() as url:
        enqueue_figures("SQLite", url, args.residents)
    with postgres_database(PG_SERVER) as pg_url:
        if pg_url is None:
            print("PostgreSQL not reachable: skipping the PostgreSQL figure")
        else:
            enqueue_figures("PostgreSQL", pg_url, args.residents)
    if not args.skip_drain:
        with sqlite_database() as url:
            drain_figures(url, args.drain, args.rate)


if __name__ == "__main__":
    main()
