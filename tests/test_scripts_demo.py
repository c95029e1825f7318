"""``scripts/demo`` installs only when needed and starts without a package index (issue 13.11).

The script runs in a copy of the project root whose ``.venv`` holds a stand-in ``python`` (it logs
its arguments; ``pip install`` fails when ``NO_INDEX`` is set, as without network) and a
stand-in ``sintonia``. Before: every start ran ``pip install --upgrade pip`` and
``pip install -e .``, and with no package index the demo did not start at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$LOG"
case "$*" in
  *"pip install"*) if [ -n "${NO_INDEX:-}" ]; then exit 1; fi ;;
esac
exit 0
"""
FAKE_SINTONIA = """#!/usr/bin/env bash
echo "sintonia $*" >> "$LOG"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if shutil.which("bash") is None or shutil.which("cksum") is None:
        pytest.skip("needs bash and cksum")
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for name in ("_env.sh", "demo"):
        shutil.copy2(ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("sintonia", FAKE_SINTONIA)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return root


def _demo(root: Path, *, no_index: bool) -> tuple[int, list[str], str]:
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_INDEX", "VIRTUAL_ENV")}
    env["LOG"] = str(log)
    if no_index:
        env["NO_INDEX"] = "1"
    proc = subprocess.run(
        ["bash", str(root / "scripts" / "demo"), "--no-browser"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, calls, proc.stderr


def test_second_start_skips_the_install_and_needs_no_index(project: Path) -> None:
    code, calls, _ = _demo(project, no_index=False)
    assert code == 0
    assert any("pip install" in c and "-e ." in c for c in calls)
    assert calls[-1] == "sintonia demo --no-browser"
    # up to date: no pip at all, even with no package index
    code, calls, err = _demo(project, no_index=True)
    assert code == 0, err
    assert not any("pip" in c for c in calls), calls
    assert calls == ["sintonia demo --no-browser"]


def test_a_changed_pyproject_reinstalls(project: Path) -> None:
    assert _demo(project, no_index=False)[0] == 0
    with (project / "pyproject.toml").open("a") as fh:
        fh.write("\n# a new dependency would go here\n")
    code, calls, _ = _demo(project, no_index=False)
    assert code == 0
    assert any("pip install" in c for c in calls)


def test_installed_without_stamp_and_no_index_still_starts(project: Path) -> None:
    code, calls, err = _demo(project, no_index=True)
    assert code == 0
    assert "running the installed Sintonia" in err
    assert calls[-1] == "sintonia demo --no-browser"
