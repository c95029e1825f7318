"""The ``sintonia`` command line.

Each sub-command lives in its own module under :mod:`server.cli` exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func`` (a callable taking
the parsed namespace and returning an exit code) with ``parser.set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from server.modes import PRIVATE_UMASK

__all__ = ["COMMANDS", "build_parser", "main"]

#: Modules under ``server.cli`` that register sub-commands, in the order they appear in --help.
_COMMAND_MODULES: Final[tuple[str, ...]] = (
    "analyze",
    "simulate",
    "devices",
    "demo",
    "serve",
    "report",
    "export",
    "importer",
    "relay",
)

#: Every command: (name, module that registers it, one-line help). ``sintonia --help`` and a
#: mistyped command are answered from this table alone, without importing any command module
#: (they pull in numpy, scipy, the web stack and the database); a command imports its module
#: only when it runs. A test checks this table against what the modules register.
COMMANDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("analyze", "analyze", "HRV metrics of a recorded RR file"),
    ("simulate", "simulate", "write one participant's simulated beats to a file"),
    ("scan", "devices", "list nearby Bluetooth heart-rate straps"),
    ("record", "devices", "record raw beats of one or more straps to a file"),
    (
        "demo",
        "demo",
        "run the server with a simulated patient and therapist and open the dashboard",
    ),
    ("serve", "serve", "run the server (API, live WebSocket, dashboard)"),
    ("token", "serve", "print the API access token"),
    ("clinician", "serve", "manage clinician accounts"),
    ("report", "report", "write the offline HTML report of a stored session"),
    ("export", "export", "export stored sessions (CSV, EDF+, de-identified research export)"),
    ("cohort", "export", "per-phase HRV metrics and alliance scores of many sessions as one CSV"),
    ("import", "importer", "store a recording from another app as a finished session"),
    (
        "relay",
        "relay",
        "send a strap's beats to a remote session (join link) without Web Bluetooth",
    ),
)


def _root_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[Any]]:
    parser = argparse.ArgumentParser(
        prog="sintonia",
        description="Sintonia: a local-first monitor of autonomic regulation (heart-rate "
        "variability) for psychotherapy.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    return parser, sub


def build_parser(commands: Sequence[str] = _COMMAND_MODULES) -> argparse.ArgumentParser:
    """Build the argument parser with the given command modules registered (default: all)."""
    parser, sub = _root_parser()
    for name in commands:
        module = importlib.import_module(f"server.cli.{name}")
        module.register(sub)
    return parser


def _light_parser() -> argparse.ArgumentParser:
    """Every command listed with its help, none registered: for ``--help`` and bad commands."""
    parser, sub = _root_parser()
    for name, _, text in COMMANDS:
        sub.add_parser(name, help=text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sintonia`` console script; returns the process exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((w for w in words if not w.startswith("-")), None)
    module = next((m for name, m, _ in COMMANDS if name == command), None)
    # only the chosen command's module is imported (``sintonia analyze`` never loads the web
    # stack); without a known command the light parser prints the help or the error
    parser = build_parser((module,)) if module is not None else _light_parser()
    args = parser.parse_args(words)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    # Every file the commands write (database, reports, exports) is private: 0600, folders 0700.
    os.umask(PRIVATE_UMASK)
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
