"""``sintonia export ...`` and ``sintonia cohort``: files out of the stored sessions.

* ``sintonia export csv SESSION [--out DIR]``: ``session-ID_beats.csv``,
  ``session-ID_events.csv`` and ``session-ID_phases.csv`` (pseudonymous, absolute times;
  needs each person's ``review`` consent);
* ``sintonia export edf SESSION [--out FILE]``: EDF+ with RR and HR at 4 Hz and annotations;
* ``sintonia export research OUT_DIR [--sessions 1,2] [--format tsv|parquet|both]``: the
  de-identified BIDS-like export (needs each person's ``research_export`` consent);
* ``sintonia cohort --out table.csv [--sessions ...]``: one row per session, participant and phase;
  with ``--from-export DIR``, recomputed from a research export's Parquet files (no database).

``export research`` and ``cohort`` run one task per session on Dask with ``--workers N`` (a local
cluster of N worker processes) or ``--scheduler tcp://HOST:PORT`` (a running cluster whose
workers have sintonia installed and reach the database); the output is the same. A session that
cannot be read (a corrupt row) is left out and named on stderr; the others are written.

Simulated sessions (the demo's) are left out of ``export research`` and ``cohort`` unless
``--include-simulated`` is given; then they are flagged (``sim-`` recording labels, a
``simulated`` cohort column).

Every command reads the database of ``SINTONIA_DATA_DIR`` / ``SINTONIA_DATABASE_URL`` (or
``--database-url``) and writes an audit-log entry. Exit codes: 0 done; 1 nothing could be
exported (nobody has the consent needed); 2 an error (unknown session, no database, an output
directory that is not empty, a missing optional dependency), with a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hrv.errors import SintoniaError
from server.export.errors import NothingToExportError
from server.storage import StorageSettings, Store

if TYPE_CHECKING:
    from server.export.runner import SessionFailure, SessionRunner

__all__ = ["register", "run_cohort", "run_export"]

_NOTHING: Final[int] = 1
_ERROR: Final[int] = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` (with its ``csv``, ``edf``, ``research`` commands) and ``cohort``."""
    p = sub.add_parser(
        "export",
        help="export stored sessions (CSV, EDF+, de-identified research export)",
        description="Export stored sessions. Each export is written to the audit log; people "
        "without the consent it needs are left out (and counted).",
    )
    kinds = p.add_subparsers(dest="export_kind", metavar="KIND")
    kinds.required = True

    csv_p = kinds.add_parser("csv", help="one session's beats and events as CSV")
    csv_p.add_argument("session", type=int, help="session id")
    csv_p.add_argument("--out", type=Path, default=Path("."), help="output directory")
    csv_p.add_argument(
        "--no-arousal", action="store_true", help="leave out the replayed arousal columns"
    )

    edf_p = kinds.add_parser("edf", help="one session as EDF+ (RR and HR at 4 Hz, annotations)")
    edf_p.add_argument("session", type=int, help="session id")
    edf_p.add_argument("--out", type=Path, default=None, help="output file (session-ID.edf)")

    res_p = kinds.add_parser(
        "research", help="de-identified BIDS-like export of many sessions (research_export)"
    )
    res_p.add_argument("out", type=Path, help="output directory (new or empty)")
    res_p.add_argument("--format", choices=("tsv", "parquet", "both"), default="tsv")

    for q in (csv_p, edf_p, res_p):
        _common(q)
    res_p.add_argument("--sessions", type=_ids, default=None, help="session ids, e.g. 1,2,5")
    _simulated_flag(res_p)
    _dask_flags(res_p)
    p.set_defaults(func=run_export)

    c = sub.add_parser(
        "cohort",
        help="per-phase HRV metrics and alliance scores of many sessions as one CSV",
        description="One row per session, participant and phase: beats, mean HR, RMSSD, "
        "ln RMSSD, artifact %%, LF/HF (phases of at least 120 s of beats), alliance scores.",
    )
    c.add_argument("--out", type=Path, required=True, help="output CSV file")
    c.add_argument("--sessions", type=_ids, default=None, help="session ids, e.g. 1,2,5")
    c.add_argument(
        "--purpose",
        choices=("research_export", "review"),
        default="research_export",
        help="consent each participant needs (default research_export)",
    )
    c.add_argument("--no-lf-hf", action="store_true", help="skip the spectra (faster)")
    c.add_argument(
        "--from-export",
        type=Path,
        default=None,
        metavar="DIR",
        help="recompute the table from a research export's Parquet files instead of the "
        "database (the export's consent rule already applied; --sessions, --purpose and "
        "--include-simulated do not apply)",
    )
    _simulated_flag(c)
    _dask_flags(c)
    _common(c)
    c.set_defaults(func=run_cohort)


def _simulated_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--include-simulated",
        action="store_true",
        help="include simulated sessions (the demo's), flagged; left out by default",
    )


def _dask_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run one task per session on this Dask cluster (pip install 'sintonia[scale]'; "
        "every worker must reach the database)",
    )
    g.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="run one task per session on a local Dask cluster of N worker processes",
    )


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers >= 1, got {text!r}")
    return n


@contextmanager
def _runner(args: argparse.Namespace) -> Iterator[SessionRunner | None]:
    """A Dask runner when ``--scheduler`` or ``--workers`` is given, else None (no dask
    import at all)."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from server.export.dask_runner import dask_runner

    # Dask logs every connection at INFO: keep its loggers at this command's level
    level = logging.getLogger().getEffectiveLevel()
    with dask_runner(args.scheduler, args.workers, log_level=level) as runner:
        yield runner


def _failed_note(cmd: str, failed: Sequence[SessionFailure]) -> None:
    for f in failed:
        print(f"sintonia {cmd}: session {f.session_id} left out: {f.error}", file=sys.stderr)


def _simulated_note(n: int) -> None:
    if n:
        print(f"left out {n} simulated session(s) (add --include-simulated to include them)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", default=None, help="database URL; default the SQLite file")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def _ids(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected session ids separated by commas, got {text!r}"
        ) from None
    if not ids:
        raise argparse.ArgumentTypeError("expected at least one session id")
    return ids


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _open_store(database_url: str | None) -> Store:
    """Open the configured database without creating or migrating anything."""
    settings = StorageSettings.from_env()
    if database_url:
        settings = replace(settings, database_url=database_url)
    url = make_url(settings.url)
    file_db = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if file_db and not Path(str(url.database)).is_file():
        raise SintoniaError(f"no database at {url.database} (set --database-url)")
    return Store.open(settings, migrate=False)


class _Progress:
    """A one-line progress indicator on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        print(
            f"\r{self.label}: {done}/{total} sessions ({rate:.1f}/s)",
            end="" if done < total else "\n",
            file=sys.stderr,
            flush=True,
        )


def _fail(cmd: str, exc: BaseException) -> int:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    print(f"sintonia {cmd}: error: {msg}", file=sys.stderr)
    return _ERROR


def run_export(args: argparse.Namespace) -> int:
    """Run ``sintonia export KIND ...``; see the module docstring for the exit codes."""
    cmd = f"export {args.export_kind}"
    try:
        store = _open_store(args.database_url)
    except (SintoniaError, sa.exc.SQLAlchemyError) as exc:
        return _fail(cmd, exc)
    try:
        return _export(args, store, cmd)
    except NothingToExportError as exc:
        print(f"sintonia {cmd}: nothing exported: {exc}", file=sys.stderr)
        return _NOTHING
    except ImportError as exc:
        return _fail(cmd, ImportError(f"{exc}; install the extra: pip install 'sintonia[export]'"))
    except (SintoniaError, OSError, sa.exc.SQLAlchemyError) as exc:
        return _fail(cmd, exc)
    finally:
        store.close()


def _export(args: argparse.Namespace, store: Store, cmd: str) -> int:
    actor = _actor()
    if args.export_kind == "csv":
        from server.export.clinical import write_session_csv

        args.out.mkdir(parents=True, exist_ok=True)
        r = write_session_csv(
            store,
            args.session,
            args.out / f"session-{args.session}_beats.csv",
            args.out / f"session-{args.session}_events.csv",
            phases_path=args.out / f"session-{args.session}_phases.csv",
            actor=actor,
            arousal=not args.no_arousal,
        )
    elif args.export_kind == "edf":
        from server.export.edf import write_session_edf

        out = args.out if args.out is not None else Path(f"session-{args.session}.edf")
        r = write_session_edf(store, args.session, out, actor=actor)
    else:
        from server.export.research import export_research

        with _runner(args) as runner:
            res = export_research(
                store,
                args.out,
                args.sessions,
                format=args.format,
                actor=actor,
                progress=_Progress("export", not args.quiet and sys.stderr.isatty()),
                include_simulated=args.include_simulated,
                runner=runner,
            )
        print(
            f"wrote {res.recordings} recording(s) of {res.subjects} subject(s) in "
            f"{res.sessions} session(s), {res.n_beats} beats, to {res.out_dir}"
        )
        if res.excluded_recordings:
            print(
                f"left out {res.excluded_recordings} recording(s) of "
                f"{res.excluded_participants} participant(s) without research_export consent"
            )
        _simulated_note(res.simulated_left_out)
        _failed_note(cmd, res.failed)
        return 0
    for path in r.paths:
        print(f"wrote {path}")
    print(f"{r.n_beats} beats of {len(r.participants)} participant(s), {r.n_events} events")
    if r.excluded:
        print(f"left out {r.excluded} participant(s) without review consent")
    return 0


def _cohort_from_export(args: argparse.Namespace) -> int:
    """``sintonia cohort --from-export DIR``: the table from the export's Parquet files."""
    from server.export.cohort_parquet import cohort_from_export
    from server.export.tables import write_delimited

    try:
        with _runner(args) as runner:
            table = cohort_from_export(args.from_export, lf_hf=not args.no_lf_hf, runner=runner)
        n = write_delimited(table, args.out)
    except ImportError as exc:
        return _fail(
            "cohort", ImportError(f"{exc}; install the extra: pip install 'sintonia[export]'")
        )
    except (SintoniaError, OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return _fail("cohort", exc)
    print(f"wrote {n} rows from the export {args.from_export} to {args.out}")
    return 0


def run_cohort(args: argparse.Namespace) -> int:
    """Run ``sintonia cohort``; see the module docstring for the exit codes."""
    if args.from_export is not None:
        return _cohort_from_export(args)
    from server.export.cohort import cohort_table
    from server.export.tables import write_delimited

    try:
        store = _open_store(args.database_url)
    except (SintoniaError, sa.exc.SQLAlchemyError) as exc:
        return _fail("cohort", exc)
    try:
        with _runner(args) as runner:
            result = cohort_table(
                store,
                args.sessions,
                purpose=args.purpose,
                actor=_actor(),
                lf_hf=not args.no_lf_hf,
                progress=_Progress("cohort", not args.quiet and sys.stderr.isatty()),
                include_simulated=args.include_simulated,
                runner=runner,
            )
        _failed_note("cohort", result.failed)
        if result.recordings == 0:
            sim = result.simulated_left_out
            print(
                f"sintonia cohort: nothing exported: no recording of {result.sessions} "
                f"session(s) has beats and an active {args.purpose} consent "
                f"({result.excluded} left out"
                + (
                    f"; {sim} simulated session(s) left out, see --include-simulated)"
                    if sim
                    else ")"
                ),
                file=sys.stderr,
            )
            return _NOTHING
        n = write_delimited(result.table, args.out)
    except (SintoniaError, OSError, sa.exc.SQLAlchemyError) as exc:
        return _fail("cohort", exc)
    finally:
        store.close()
    print(
        f"wrote {n} rows ({result.recordings} recordings, {result.sessions} sessions) to {args.out}"
    )
    if result.excluded:
        print(f"left out {result.excluded} recording(s) without {args.purpose} consent")
    _simulated_note(result.simulated_left_out)
    return 0
