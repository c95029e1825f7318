"""Shared pytest configuration."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Fixture plugins shared by every test folder. pytest reads ``pytest_plugins`` only in this
#: top-level conftest; the modules are imported by name (the project root is on ``sys.path``
#: through the ``pythonpath`` setting), never loaded from a file path.
pytest_plugins = ["tests.support.storage_fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hardware",
        action="store_true",
        default=False,
        help="run tests that need a real BLE heart-rate strap nearby",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--hardware"):
        return
    skip = pytest.mark.skip(reason="needs a real strap: run with --hardware")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


#: Debian's Chromium (installed by scripts/system-deps.sh); Playwright's own download is not used.
CHROMIUM = Path("/usr/bin/chromium")
#: As root on a machine without a network: no sandbox, and no background connections.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium per test module, driven by Playwright's sync API.

    Module scope, not session: while Playwright's sync API is active it owns an event loop in the
    main thread, which the asyncio tests of other modules must not meet.

    Skipped where Chromium or Playwright is missing on a developer's machine; under CI (``CI`` set)
    a missing browser fails instead, so that the browser tests can never be skipped silently.
    """
    missing = None
    if not CHROMIUM.exists():
        missing = f"Debian's chromium is not installed at {CHROMIUM}"
    elif importlib.util.find_spec("playwright") is None:
        missing = "playwright is not installed"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (scripts/test installs it)")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
