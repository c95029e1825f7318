"""The ``sintonia`` command line.

Each sub-command lives in its own module under :mod:`server.cli` exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func`` (a callable taking
the parsed namespace and returning an exit code) with ``parser.set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["build_parser", "main"]

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


def build_parser(commands: Sequence[str] = _COMMAND_MODULES) -> argparse.ArgumentParser:
    """Build the argument parser with the given sub-commands registered (default: all)."""
    parser = argparse.ArgumentParser(
        prog="sintonia",
        description="Sintonia: a local-first monitor of autonomic regulation (heart-rate "
        "variability) for psychotherapy.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in commands:
        module = importlib.import_module(f"server.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sintonia`` console script; returns the process exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    # `analyze` needs only hrv/ and sensor.files: registering it alone keeps the web stack that
    # the other commands import out of its start-up (about 1.5 s)
    parser = build_parser(("analyze",) if words[:1] == ["analyze"] else _COMMAND_MODULES)
    args = parser.parse_args(words)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
