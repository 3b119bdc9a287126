"""bot.engine and bot.flows stay pure: no web framework, ORM, Twilio or domain imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_PACKAGES = [ROOT / "bot" / "engine", ROOT / "bot" / "flows"]
FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlmodel",
    "sqlalchemy",
    "twilio",
    "api",
    "bot.channels",
    "bot.domain",
    "bot.db",
    "bot.config",
)
ALLOWED_THIRD_PARTY = ("babel", "rapidfuzz", "yaml")
ALLOWED_BOT = ("bot.content", "bot.i18n", "bot.names", "bot.sms", "bot.engine", "bot.flows")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Return (line, absolute module name) for every import in a file, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            module = node.module or ""
            found.append((node.lineno, module))
            if module == "bot":  # `from bot import x` imports the module bot.x
                found += [(node.lineno, f"bot.{alias.name}") for alias in node.names]
            # Dynamic imports would dodge this test.
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", ""))
            in {"__import__", "import_module"}
        ):
            found.append((node.lineno, "<dynamic import>"))
    return found


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


FILES = sorted(p for package in PURE_PACKAGES for p in package.rglob("*.py"))


def test_there_is_something_to_check() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_imports_only(path: Path) -> None:
    import sys

    stdlib = sys.stdlib_module_names
    for line, module in _imports(path):
        where = f"{path.relative_to(ROOT)}:{line} imports {module}"
        assert not any(_is(module, bad) for bad in FORBIDDEN), where
        top = module.split(".")[0]
        if top == "bot":
            assert any(_is(module, ok) for ok in ALLOWED_BOT) or module == "bot", where
        elif top != "__future__":
            assert top in stdlib or top in ALLOWED_THIRD_PARTY, where


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from sqlmodel import Session\n    import bot.domain.residents\n")
    modules = [m for _, m in _imports(bad)]
    assert "sqlmodel" in modules
    assert any(_is(m, "bot.domain") for m in modules)


def test_no_user_facing_strings_in_flows() -> None:
    """Flows pass message ids, never sentences: no string literal with a space and a
    capital letter or full stop, other than docstrings."""
    for path in FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {  # bare string statements: docstrings, attribute docstrings
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and " " in node.value.strip()
                and node.value.strip()[-1:] in ".!?"
            ):
                # Log and exception messages are for us, not residents.
                assert node.value[:1].islower() or "%s" in node.value, (
                    f"{path.relative_to(ROOT)}:{node.lineno}: user-facing text {node.value!r}"
                )
