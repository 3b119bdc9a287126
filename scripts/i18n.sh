#!/bin/sh
# Translation workflow (see bot/i18n_tools.py). Usage:
#   scripts/i18n.sh all       extract + update + compile (what `make i18n` runs)
#   scripts/i18n.sh extract   write locales/messages.pot from content/, bot/, api/
#   scripts/i18n.sh update    merge the template into every locales/<lang>/LC_MESSAGES/messages.po
#   scripts/i18n.sh compile   write the .mo files; fails on catalog errors
#   scripts/i18n.sh check     fail on a stale template, broken catalog or placeholder mismatch
#   scripts/i18n.sh report    coverage, review status and SMS cost per language
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m bot.i18n_tools "${@:-all}"
