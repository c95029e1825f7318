"""The command line starts fast (issue 11, item 4): ``sintonia --help`` imports no web, database,
plotting or scipy module, and ``sintonia analyze`` imports no server code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from server.cli import COMMANDS, build_parser

HEAVY = ("fastapi", "starlette", "sqlalchemy", "plotly", "scipy", "uvicorn", "argon2", "numpy")

_PROBE = """
import json, sys
from server.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    last = done.stderr.strip().splitlines()[-1]
    info = json.loads(last)
    return int(info["code"] or 0), set(info["modules"])


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_imports_nothing_heavy() -> None:
    code, modules = _modules_after("--help")
    assert code == 0
    assert not (_top(modules) & set(HEAVY)), sorted(_top(modules) & set(HEAVY))
    assert not any(
        m.startswith("server.") and m not in ("server.cli", "server.modes") for m in modules
    )


def test_an_unknown_command_is_answered_without_loading_commands() -> None:
    code, modules = _modules_after("analyse")
    assert code == 2
    assert not (_top(modules) & set(HEAVY))


def test_analyze_imports_no_server_code(tmp_path: Path) -> None:
    path = tmp_path / "rr.txt"
    path.write_text("\n".join(str(v) for v in 800 + np.arange(300) % 7))
    code, modules = _modules_after("analyze", str(path), "--json")
    assert code == 0
    server = sorted(m for m in modules if m.split(".")[0] == "server")
    assert server == ["server", "server.cli", "server.cli.analyze", "server.modes"]
    assert not (_top(modules) & {"fastapi", "starlette", "sqlalchemy", "uvicorn", "argon2"})


def test_the_command_table_matches_what_the_modules_register() -> None:
    parser = build_parser()
    registered = {}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for choice in action._choices_actions:  # type: ignore[attr-defined]
            registered[choice.dest] = choice.help
    assert registered == {name: text for name, _, text in COMMANDS}
    for name, module, _ in COMMANDS:  # each command is registered by the module named
        assert name in build_parser((module,))._subparsers._group_actions[0].choices  # type: ignore[union-attr]
