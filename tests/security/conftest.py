"""Fixtures of the attack suite: the storage backends of tests/server, and the suite's counts.

The PostgreSQL fixtures are those of ``tests/server/conftest.py`` (loaded from its file: the
suite runs with ``--import-mode=importlib``), so the same skip-or-fail rule applies: skipped when
PostgreSQL is unreachable, failed under ``CI``. At the end of a run the suite prints what it
tried (routes x credentials, requests fuzzed, 5xx found, bad-input payloads).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.support.security import COUNTS

_spec = importlib.util.spec_from_file_location(
    "sintonia_server_test_conftest", Path(__file__).parents[1] / "server" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_server_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_server_conftest)

postgres_admin_url = _server_conftest.postgres_admin_url
postgres_migrated_url = _server_conftest.postgres_migrated_url
empty_all_tables = _server_conftest._empty_all_tables


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(COUNTS.values()):
        return
    terminalreporter.write_sep("-", "attack suite (tests/security)")
    for name, value in COUNTS.items():
        terminalreporter.write_line(f"{name}: {value}")
