"""No source module over 800 lines (issue 11): each file does one thing a newcomer can read.

Python and JavaScript under the four packages count; generated Alembic migrations do not.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hrv", "sensor", "server", "dashboard")
MAX_LINES = 800


def _sources() -> list[Path]:
    files = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*")):
            if path.suffix in (".py", ".js") and "migrations" not in path.parts:
                files.append(path)
    return files


def test_the_packages_have_sources() -> None:
    names = {p.name for p in _sources()}
    assert {"derive.py", "hub.py", "store.py", "main.js"} <= names


def test_no_source_module_is_over_800_lines() -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
