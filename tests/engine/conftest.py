"""Fixtures for conversation scripts: see chat.py beside this file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_chat_module() -> ModuleType:
    """Import tests/engine/chat.py once, under a stable name, without a test package."""
    name = "siyakha_test_chat"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("chat.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def c() -> ModuleType:
    """The chat helper module (constants, fakes, Chat)."""
    return load_chat_module()


@pytest.fixture
def chat(c: ModuleType):
    """A new resident on WhatsApp."""
    return c.Chat(channel="whatsapp")


@pytest.fixture
def sms_chat(c: ModuleType):
    """A new resident on SMS."""
    return c.Chat(channel="sms")
