"""Helpers the benchmarks share: throwaway databases and the median-and-range figure."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url

PG_SERVER = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def median_range(values: list[float], fmt: str = ".3f", unit: str = "") -> str:
    """Return "median M (range LO-HI)" for `values`, numbers in `fmt`, `unit` after M."""
    values = sorted(values)
    low, high = values[0], values[-1]
    return f"median {statistics.median(values):{fmt}}{unit} (range {low:{fmt}}-{high:{fmt}})"


@contextmanager
def sqlite_database() -> Iterator[str]:
    """Yield the URL of a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def postgres_database(server: str) -> Iterator[str | None]:
    """Yield the URL of a fresh database on `server`, dropped afterwards (None when no
    server answers)."""
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"siyakha_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        yield None
        return
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
