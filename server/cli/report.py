"""``sintonia report SESSION --out report.html``: the offline post-session report of a session."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dashboard.report import render_report
from dashboard.review import review_session
from hrv.errors import SintoniaError
from server.review_data import load_session_inputs
from server.storage import Store

__all__ = ["generate_report", "register", "run"]

#: Who the audit log names for a report made on the command line.
_ACTOR = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` sub-command."""
    p = sub.add_parser(
        "report",
        help="write the offline HTML report of a stored session",
        description="Write a self-contained, printable HTML report of one stored session: "
        "arousal, HR and RMSSD traces with phases, markers and cues; per-phase tables; "
        "activation episodes and recovery; breathing-exercise response; signal quality. "
        "Works offline (plotly.js is embedded). The report generation is written to the "
        "audit log.",
    )
    p.add_argument("session", type=int, help="session id")
    p.add_argument("--out", required=True, help="path of the HTML file to write")
    p.add_argument(
        "--database-url",
        default=None,
        help="database URL (default: SINTONIA_DATABASE_URL or the local SQLite file)",
    )
    p.set_defaults(func=run)


def generate_report(store: Store, session_id: int, out: str | Path, *, actor: str = _ACTOR) -> Path:
    """Review a stored session, write its HTML report and record that in the audit log.

    Parameters
    ----------
    store : Store
    session_id : int
    out : str or Path
        Where to write the HTML (parent directories must exist).
    actor : str
        Who asked for it (audit log).

    Returns
    -------
    Path
        The file written.
    """
    inputs = load_session_inputs(store, session_id)
    review = review_session(inputs)
    page = render_report(review, generated_at_s=store.now())
    path = Path(out)
    path.write_text(page, encoding="utf-8")
    store.audit(
        actor,
        "report.generate",
        "session",
        session_id,
        {
            "out": path.name,
            "participants": [p.code for p in review.participants],
            "left_out": list(inputs.notes),
        },
    )
    return path


def run(args: argparse.Namespace) -> int:
    """Run ``sintonia report``; exit code 0, or 2 with a one-line message."""
    try:
        store = Store.open(args.database_url)
    except (OSError, SintoniaError) as exc:
        print(f"sintonia report: error: cannot open the database: {exc}", file=sys.stderr)
        return 2
    try:
        path = generate_report(store, args.session, args.out)
    except (OSError, SintoniaError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sintonia report: error: {msg}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"report of session {args.session} written to {path}")
    return 0
