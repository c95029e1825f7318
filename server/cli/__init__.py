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
from typing import Final

from server.storage.settings import PRIVATE_UMASK

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
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="sintonia",
        description="Sintonia: a local-first monitor of autonomic regulation (heart-rate "
        "variability) for psychotherapy.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"server.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sintonia`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
