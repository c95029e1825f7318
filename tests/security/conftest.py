"""Configuration of the attack suite: the suite's counts, printed at the end of a run.

The storage fixtures (``postgres_migrated_url`` and the others) are those of every test folder,
from :mod:`tests.support.storage_fixtures`, so the same skip-or-fail rule applies: skipped when
PostgreSQL is unreachable, failed under ``CI``. At the end of a run the suite prints what it
tried (routes x credentials, requests fuzzed, 5xx found, bad-input payloads).
"""

from __future__ import annotations

import pytest

from tests.support.security import COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not any(COUNTS.values()):
        return
    terminalreporter.write_sep("-", "attack suite (tests/security)")
    for name, value in COUNTS.items():
        terminalreporter.write_line(f"{name}: {value}")
