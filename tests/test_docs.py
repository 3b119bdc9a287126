"""The README, .env.example and /openapi.json stay true to the code."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from api.main import create_app
from bot import i18n
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _env_names() -> list[str]:
    return [str(field.validation_alias) for field in Settings.model_fields.values()]


def test_every_setting_is_in_env_example_and_readme() -> None:
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    names = _env_names()
    assert "DATABASE_URL" in names and "SIYAKHA_SECRET_KEY" in names
    assert [n for n in names if f"{n}=" not in example] == []
    assert [n for n in names if f"`{n}`" not in readme and n not in readme] == []


def test_every_setting_has_a_row_in_the_readme_s_table_of_variables() -> None:
    # Fourteen (the SLA hours, the reminders, the broadcast prices...) were only in the prose
    # of later sections, though the table is where "Environment variables" lists them.
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("Environment variables (or a `.env` file") : readme.index("## CLI")]
    first_cells = " ".join(
        line.split(" | ")[0] for line in table.splitlines() if line.startswith("| `")
    )
    names = [*_env_names(), i18n.LOCALES_DIR_ENV]
    assert [n for n in names if f"`{n}`" not in first_cells] == []


def test_a_variable_read_outside_the_settings_is_listed_too() -> None:
    # SIYAKHA_LOCALES_DIR (bot/i18n.py) was in neither, though .env.example says every
    # variable Siyakha reads is listed there.
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f"{i18n.LOCALES_DIR_ENV}=" in example
    assert f"`{i18n.LOCALES_DIR_ENV}`" in readme


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_compose_runs_every_siyakha_service_in_production() -> None:
    # env_file (.env from .env.example says dev) would override the image's
    # SIYAKHA_ENV=production, and `serve --host 0.0.0.0` refuses dev; environment beats it.
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    ours = {name: s for name, s in compose["services"].items() if "build" in s}
    assert set(ours) == {"app", "worker"}
    for name, service in ours.items():
        assert service["environment"]["SIYAKHA_ENV"] == "production", name


def test_every_api_route_is_described_in_openapi(settings: Settings, engine) -> None:
    schema = create_app(settings, engine).openapi()
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert len(operations) >= 40  # every router's routes are in the schema
    assert [where for where, op in operations.items() if not op.get("description")] == []
    assert "POST /webhooks/twilio/messages" in operations
    assert "GET /healthz" in operations


def test_every_route_has_a_docstring() -> None:
    """Dashboard pages too, which /openapi.json leaves out (style.md: a docstring on every
    route). Read from the source: the app's routes are not all reachable from app.routes."""
    undocumented, routes = [], 0
    for path in sorted((ROOT / "api" / "routes").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not any(_is_route_decorator(d) for d in node.decorator_list):
                continue
            routes += 1
            if not (ast.get_docstring(node) or "").strip():
                undocumented.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert routes >= 80
    assert undocumented == []


def _is_route_decorator(decorator: ast.expr) -> bool:
    """`@router.get(...)`, `@app.post(...)` and the like."""
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in {"get", "post", "put", "patch", "delete", "api_route"}
    )


def test_every_api_v1_operation_documents_its_errors(settings: Settings, engine) -> None:
    spec = create_app(settings, engine).openapi()
    schemas = spec["components"]["schemas"]
    operations = [
        (f"{method.upper()} {path}", path, operation)
        for path, methods in spec["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in methods.items()
    ]
    assert len(operations) >= 30

    def schema_of(response: dict) -> dict:
        return response["content"]["application/json"]["schema"]

    for where, path, operation in operations:
        responses = operation["responses"]
        assert schema_of(responses["401"]) == {"$ref": "#/components/schemas/Problem"}, where
        if "{" in path:
            assert schema_of(responses["404"]) == {"$ref": "#/components/schemas/Problem"}, where
        # Routes raise 422 by hand with a sentence; input checking's 422 is a list.
        assert schema_of(responses["422"]) == {"$ref": "#/components/schemas/Invalid"}, where
    detail = schemas["Invalid"]["properties"]["detail"]["anyOf"]
    assert {"type": "string"} in detail
    assert {"type": "array", "items": {"$ref": "#/components/schemas/InputProblem"}} in detail
    assert "HTTPValidationError" not in json.dumps(
        {p: m for p, m in spec["paths"].items() if p.startswith("/api/v1/")}
    )
    for name in ("MilestoneIn", "MilestonePublic"):
        fields = schemas[name]["properties"]
        assert fields["strand"]["enum"] == ["planning", "services", "tenure", "layout", "housing"]
        assert fields["status"]["enum"] == ["planned", "in_progress", "done", "delayed"]
    assert "at least one filter" in schemas["Audience"]["description"]


def test_a_reply_documents_only_the_answers_it_gives(settings: Settings, engine) -> None:
    # It documented a 409 it can never give: a reply is refused only as bad input (422).
    spec = create_app(settings, engine).openapi()
    responses = spec["paths"]["/api/v1/tickets/{reference}/replies"]["post"]["responses"]
    assert sorted(responses) == ["201", "401", "403", "404", "413", "422"]


def test_a_copy_of_env_example_leaves_the_public_url_to_make_run(monkeypatch) -> None:
    # It set SIYAKHA_PUBLIC_URL=http://127.0.0.1:8000, and a value from .env counts as set:
    # `make run PORT=8776` then checked signatures against port 8000, not the one served.
    for name in _env_names():
        monkeypatch.delenv(name, raising=False)  # the file's values alone
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert "public_url" not in settings.model_fields_set
    assert settings.public_url == "http://127.0.0.1:8000"


def test_the_limit_of_a_broadcast_text_is_documented(settings: Settings, engine) -> None:
    # Texts over 1,500 characters were refused with only Twilio's 1,600 documented.
    schema = create_app(settings, engine).openapi()["components"]["schemas"]
    assert (
        "at most 1,500 characters"
        in schema["BroadcastCreate"]["properties"]["texts"]["description"]
    )
    assert "text at most 1,500 characters" in (ROOT / "README.md").read_text()


def test_every_cli_option_is_in_the_readme() -> None:
    # serve --workers and db upgrade --revision were missing from the CLI table.
    from typer.main import get_command

    from bot.cli import app

    rows = [
        line.split("|")[1]
        for line in (ROOT / "README.md").read_text().replace("\\|", "/").splitlines()
        if line.startswith("| `siyakha ")
    ]

    def commands(group: Any, words: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        for name, command in getattr(group, "commands", {}).items():
            if hasattr(command, "commands"):
                yield from commands(command, (*words, name))
            else:
                yield (*words, name), command

    missing = []
    for words, command in commands(get_command(app), ()):
        row = next((r for r in rows if f"siyakha {' '.join(words)}" in r), None)
        row = row or next((r for r in rows if all(w in r for w in words)), None)
        if row is None:
            missing.append(" ".join(words))
            continue
        for param in command.params:
            flags = [f for f in (*param.opts, *param.secondary_opts) if f.startswith("--")]
            if flags and not any(f in row for f in flags):
                missing.append(f"{' '.join(words)} {flags[0]}")
    assert missing == []
