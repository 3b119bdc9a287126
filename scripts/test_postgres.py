"""Run the test suite against PostgreSQL when a server is reachable; say so plainly when not.

The server is TEST_DATABASE_URL, or postgresql://postgres@127.0.0.1:5432/postgres.
The tests create throwaway databases on it and drop them. Under CI=true an
unreachable server is a failure, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> int:
    """Run pytest with TEST_DATABASE_URL set, or explain why not."""
    url = os.environ.get("TEST_DATABASE_URL") or DEFAULT
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(plain, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if os.environ.get("CI") == "true":
            print(f"PostgreSQL at {plain} is not reachable ({reason}); CI needs it.")
            return 1
        print(
            f"SKIPPING the PostgreSQL pass: no server reachable at {plain} ({reason}).\n"
            "Set TEST_DATABASE_URL to a server where you may create databases to run it."
        )
        return 0
    print(f"PostgreSQL pass against {plain} (throwaway databases)")
    env = {**os.environ, "TEST_DATABASE_URL": plain}
    return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], env=env)  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
