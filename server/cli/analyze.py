"""``sintonia analyze FILE``: HRV of a whole recording, as a table or one JSON object."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Final, Literal, TextIO

import numpy as np
from numpy.typing import NDArray

from hrv.analysis import Analysis, analyze
from hrv.errors import InvalidRRError, SintoniaError
from hrv.validate import CORRUPT_RR_MAX_MS
from sensor.files import locate_rr_value, read_rr_file

#: Seconds of computing before the first progress line on stderr, then between lines.
PROGRESS_AFTER_S: Final[float] = 3.0

__all__ = [
    "PROGRESS_AFTER_S",
    "progress_on",
    "register",
    "run",
]

_ROWS: tuple[tuple[str, str, str, str], ...] = (
    # (section, key, label, unit)
    ("time", "mean_rr_ms", "Mean RR", "ms"),
    ("time", "sdnn_ms", "SDNN", "ms"),
    ("time", "mean_hr_bpm", "Mean HR (60000 / mean RR)", "bpm"),
    ("time", "std_hr_bpm", "STD HR", "bpm"),
    ("time", "min_hr_bpm", "Min HR", "bpm"),
    ("time", "max_hr_bpm", "Max HR", "bpm"),
    ("time", "rmssd_ms", "RMSSD", "ms"),
    ("time", "sdsd_ms", "SDSD", "ms"),
    ("time", "nn50", "NN50", "beats"),
    ("time", "pnn50_pct", "pNN50", "%"),
    ("time", "ln_rmssd", "ln RMSSD", "ln(ms)"),
    ("time", "tri_index", "HRV triangular index", ""),
    ("time", "tinn_ms", "TINN", "ms"),
    ("time", "sdann_ms", "SDANN (5 min)", "ms"),
    ("time", "sdnn_index_ms", "SDNN index (5 min)", "ms"),
    ("time", "stress_index", "Stress index (sqrt Baevsky)", ""),
    ("time", "pns_index", "PNS index (vs population norms)", "SD"),
    ("time", "sns_index", "SNS index (vs population norms)", "SD"),
    ("frequency", "vlf_ms2", "VLF power (0-0.04 Hz)", "ms^2"),
    ("frequency", "lf_ms2", "LF power (0.04-0.15 Hz)", "ms^2"),
    ("frequency", "hf_ms2", "HF power (0.15-0.4 Hz)", "ms^2"),
    ("frequency", "total_ms2", "Total power", "ms^2"),
    ("frequency", "lf_hf", "LF/HF", ""),
    ("frequency", "lf_nu", "LF", "n.u."),
    ("frequency", "hf_nu", "HF", "n.u."),
    ("frequency", "vlf_peak_hz", "VLF peak", "Hz"),
    ("frequency", "lf_peak_hz", "LF peak", "Hz"),
    ("frequency", "hf_peak_hz", "HF peak", "Hz"),
    ("nonlinear", "sd1_ms", "Poincare SD1", "ms"),
    ("nonlinear", "sd2_ms", "Poincare SD2", "ms"),
    ("nonlinear", "sd2_sd1", "SD2/SD1", ""),
    ("nonlinear", "sampen", "Sample entropy (m 2, r 0.2 SD)", ""),
    ("nonlinear", "dfa_alpha1", "DFA alpha1 (4-16 beats)", ""),
    ("nonlinear", "dfa_alpha2", "DFA alpha2 (17-64 beats)", ""),
    ("nonlinear", "apen", "ApEn (m 2, r 0.2 SD)", ""),
    ("nonlinear", "mse", "Multiscale entropy, scales 1-5", ""),
    ("nonlinear", "d2", "Correlation dimension D2 (m 10)", ""),
    ("nonlinear", "rpa_rec_pct", "Recurrence rate (m 10)", "%"),
    ("nonlinear", "rpa_det_pct", "Determinism", "%"),
    ("nonlinear", "rpa_lmean", "Mean diagonal line", "beats"),
    ("nonlinear", "rpa_lmax", "Longest diagonal line", "beats"),
    ("nonlinear", "rpa_shannon", "Shannon entropy of lines", ""),
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number of beats, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``analyze`` sub-command."""
    p = sub.add_parser(
        "analyze",
        help="HRV metrics of a recorded RR file",
        description="Compute time-domain, frequency-domain and nonlinear HRV metrics of a whole "
        "RR recording (plain RR text, Kubios, Polar Sensor Logger, HRV Logger, Elite HRV or a "
        "Sintonia beats file).",
    )
    p.add_argument("file", help="the RR file")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    p.add_argument(
        "--correct",
        choices=("auto", "none"),
        default="auto",
        help="artifact correction (Lipponen & Tarvainen 2019); default auto",
    )
    p.add_argument(
        "--psd",
        choices=("welch", "lomb", "ar"),
        default="welch",
        help="spectral estimator: welch, lomb (Lomb-Scargle) or ar (Burg, order 16)",
    )
    p.add_argument(
        "--hr-average-beats",
        type=_positive_int,
        default=1,
        metavar="N",
        help="min/max HR from an N-beat moving average of RR (Kubios; default 1)",
    )
    p.add_argument(
        "--detrend",
        choices=("none", "smoothness-priors"),
        default="none",
        help="detrending before the spectrum (Tarvainen et al. 2002, lambda 500)",
    )
    p.add_argument(
        "--participant",
        default=None,
        help="for a Sintonia beats file holding several people: whose beats to analyse",
    )
    p.add_argument(
        "--html",
        metavar="OUT",
        default=None,
        help="also write a one-page offline figure (tachogram with artifacts, spectrum, "
        "Poincare plot) to this HTML file",
    )
    p.set_defaults(func=run)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_fmt(v) for v in value[:5])
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "-"
    return f"{v:.4g}" if abs(v) < 1 else f"{v:.2f}"


def _table(result: Analysis, unit: str, fmt_name: str, path: str) -> str:
    d = result.to_dict()
    lines = [
        f"File            {path}",
        f"Format          {fmt_name} (RR unit detected: {unit})",
        f"Beats           {d['n_beats']}",
        f"Duration        {d['duration_s'] / 60:.1f} min",
    ]
    art = d["artifacts"]
    kinds = ", ".join(f"{k} {v}" for k, v in art["by_type"].items() if v) or "none"
    lines.append(
        f"Artifacts       {art['n']} ({art['pct']:.2f} %): {kinds}; "
        + ("corrected" if art["corrected"] else "not corrected")
    )
    section = ""
    for sec, key, label, unit_ in _ROWS:
        if sec != section:
            title = {
                "time": "Time domain",
                "frequency": "Frequency domain",
                "nonlinear": "Nonlinear",
            }
            extra = f" ({d['frequency']['method']})" if sec == "frequency" else ""
            lines.append("")
            lines.append(title[sec] + extra)
            section = sec
        lines.append(f"  {label:<32} {_fmt(d[sec][key]):>10} {unit_}")
    if d["notes"]:
        lines.append("")
        lines.append("Notes (how to read a value, or why it is missing or partial):")
        lines.extend(f"  {n}" for n in d["notes"])
    return "\n".join(lines)


@contextlib.contextmanager
def progress_on(
    stream: TextIO, what: str, *, after_s: float = PROGRESS_AFTER_S, every_s: float = 5.0
) -> Iterator[None]:
    """While the body runs, write ``"sintonia analyze: <what>... 12 s"`` to ``stream`` after
    ``after_s`` and then every ``every_s`` seconds (on one rewritten line on a terminal), so a
    long computation (a Lomb-Scargle spectrum of 24 h) is never silent."""
    done = threading.Event()
    tty = stream.isatty()
    t0 = time.monotonic()
    wrote = False

    def tick() -> None:
        nonlocal wrote
        wait = after_s
        while not done.wait(wait):
            line = f"sintonia analyze: {what}... {time.monotonic() - t0:.0f} s"
            stream.write(f"\r{line}" if tty else f"{line}\n")
            stream.flush()
            wrote = True
            wait = every_s

    worker = threading.Thread(target=tick, name="analyze-progress", daemon=True)
    worker.start()
    try:
        yield
    finally:
        done.set()
        worker.join()
        if wrote and tty:
            stream.write("\n")
            stream.flush()


def _invalid_value(path: str, exc: InvalidRRError, unit: str = "ms") -> str:
    """``file:line: RR value -750 ms ...`` for a corrupt value (no numpy repr, 1-based line)."""
    line = locate_rr_value(path, exc.index) if exc.index is not None else None
    where = f"{path}:{line}" if line is not None else path
    if exc.value is None:
        return f"{where}: {exc}"
    scale = 1000.0 if unit == "s" else 1.0
    return (
        f"{where}: RR value {exc.value / scale:g} {unit} is not an RR interval (expected a "
        f"number of {unit} above 0 and at most {CORRUPT_RR_MAX_MS / scale:g})"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``sintonia analyze``; exit code 0, or 2 with a one-line message on unreadable input."""
    unit = "ms"
    try:
        rec = read_rr_file(args.file, participant=args.participant)
        unit = rec.unit_detected
        what = f"analysing {rec.n_beats} beats" + (" (Lomb-Scargle)" if args.psd == "lomb" else "")
        with progress_on(sys.stderr, what):
            result = analyze(
                rec.rr_ms,
                correct=args.correct,
                psd=args.psd,
                detrend="smoothness_priors" if args.detrend == "smoothness-priors" else "none",
                hr_average_beats=args.hr_average_beats,
            )
    except InvalidRRError as exc:
        print(f"sintonia analyze: error: {_invalid_value(args.file, exc, unit)}", file=sys.stderr)
        return 2
    except (OSError, SintoniaError, ValueError, ArithmeticError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"sintonia analyze: error: {msg}", file=sys.stderr)
        return 2
    if getattr(args, "html", None):
        try:
            with progress_on(sys.stderr, "drawing the figure"):
                _write_html(args, rec.rr_ms, result, rec.format)
        except (OSError, SintoniaError, ValueError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"sintonia analyze: error: {msg}", file=sys.stderr)
            return 2
    if args.json:
        out = {"rr_unit_detected": rec.unit_detected, "format": rec.format, **result.to_dict()}
        print(json.dumps(out, allow_nan=False))
    else:
        print(_table(result, rec.unit_detected, rec.format, args.file))
    return 0


def _write_html(args: argparse.Namespace, rr_ms: Any, result: Analysis, fmt_name: str) -> None:
    """``--html OUT``: the recording's figure page (tachogram, spectrum, Poincare), offline."""
    from pathlib import Path

    from dashboard.figures import recording_figure
    from dashboard.report import render_recording_page
    from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
    from hrv.errors import InsufficientDataError
    from hrv.frequency import lomb_psd, welch_psd

    detection = detect_artifacts(rr_ms)
    corrected = correct_artifacts(rr_ms, detection).rr if args.correct == "auto" else rr_ms
    detrend: Literal["none", "smoothness_priors"] = (
        "smoothness_priors" if args.detrend == "smoothness-priors" else "none"
    )
    freqs: NDArray[np.float64] | None = None
    psd: NDArray[np.float64] | None = None
    with contextlib.suppress(InsufficientDataError):
        if args.psd == "lomb":
            freqs, psd = lomb_psd(corrected, detrend=detrend)
        else:
            freqs, psd = welch_psd(corrected, detrend=detrend)
    fig = recording_figure(
        np.asarray(rr_ms, dtype=np.float64),
        detection.classes != BeatClass.NORMAL,
        np.asarray(corrected, dtype=np.float64),
        freqs,
        psd,
        psd_method="Lomb-Scargle" if args.psd == "lomb" else "Welch, 4 Hz spline",
    )
    d = result.to_dict()
    art = d["artifacts"]
    facts = [
        ("File", str(args.file)),
        ("Format", fmt_name),
        ("Beats", str(d["n_beats"])),
        ("Duration", f"{d['duration_s'] / 60:.1f} min"),
        (
            "Artifacts",
            f"{art['n']} ({art['pct']:.2f} %), "
            + ("corrected" if art["corrected"] else "not corrected"),
        ),
    ]
    for sec, key, label, unit in _ROWS:
        if key in ("mean_hr_bpm", "rmssd_ms", "sdnn_ms", "lf_hf", "hf_peak_hz", "sd1_ms", "sd2_ms"):
            facts.append((label, f"{_fmt(d[sec][key])} {unit}".strip()))
    page = render_recording_page(Path(args.file).name, fig, facts)
    Path(args.html).write_text(page, encoding="utf-8")
