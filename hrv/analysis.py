"""A whole-recording HRV analysis: artifacts, time, frequency and nonlinear metrics in one call.

This is what ``sintonia analyze`` prints and what the post-session report builds on. It composes
the metric modules and adds nothing of its own to the maths; a metric that the recording is too
short for is reported as missing (``None``) with the reason, never as NaN or a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv import ans_index as _ans
from hrv import frequency as _freq
from hrv import nonlinear as _nl
from hrv import rqa as _rqa
from hrv import time_domain as _td
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.errors import InsufficientDataError, ParameterError
from hrv.validate import require_beats, validate_rr

__all__ = ["Analysis", "ArtifactSummary", "analyze"]

CorrectMode = Literal["auto", "none"]
PsdMethod = Literal["welch", "lomb", "ar"]
DetrendMode = Literal["none", "smoothness_priors"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ArtifactSummary:
    """Artifacts found in the input beats (Lipponen & Tarvainen 2019).

    Attributes
    ----------
    n : int
        Beats classified as anything but normal.
    pct : float
        ``n`` as a percentage of the input beats.
    by_type : dict
        Count per class name (ectopic, long, short, missed, extra).
    corrected : bool
        Whether the metrics were computed on the corrected series.
    """

    n: int
    pct: float
    by_type: dict[str, int]
    corrected: bool


@dataclass(frozen=True, slots=True)
class Analysis:
    """Result of :func:`analyze`. ``None`` marks a metric the data was too short for.

    ``to_dict()`` gives the JSON shape printed by ``sintonia analyze --json``.
    """

    n_beats: int
    duration_s: float
    artifacts: ArtifactSummary
    time: dict[str, float | int | None]
    frequency: dict[str, float | str | None]
    nonlinear: dict[str, float | list[float | None] | None]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary (keys as documented in the README)."""
        return {
            "n_beats": self.n_beats,
            "duration_s": self.duration_s,
            "artifacts": {
                "n": self.artifacts.n,
                "pct": self.artifacts.pct,
                "by_type": dict(self.artifacts.by_type),
                "corrected": self.artifacts.corrected,
            },
            "time": dict(self.time),
            "frequency": dict(self.frequency),
            "nonlinear": dict(self.nonlinear),
            "notes": list(self.notes),
        }


def _attempt(notes: list[str], name: str, fn: Callable[[], _T]) -> _T | None:
    try:
        return fn()
    except InsufficientDataError as exc:
        notes.append(f"{name}: {exc}")
        return None


def _num(x: float | int | np.floating[Any] | np.integer[Any] | None) -> float | None:
    return None if x is None else float(x)


def analyze(
    rr: ArrayLike,
    *,
    correct: CorrectMode = "auto",
    psd: PsdMethod = "welch",
    detrend: DetrendMode = "none",
    hr_average_beats: int = _td.MIN_MAX_HR_AVERAGE_BEATS,
) -> Analysis:
    """Analyse a whole RR recording.

    Parameters
    ----------
    rr : array_like
        RR intervals, ms, as recorded (validated here with :func:`hrv.validate_rr`).
    correct : {"auto", "none"}
        ``"auto"`` detects and corrects artifacts (Lipponen & Tarvainen 2019) before computing the
        metrics; ``"none"`` computes them on the beats as given (artifacts are still counted).
    psd : {"welch", "lomb", "ar"}
        Spectral estimator for the frequency domain (``"ar"``: Burg, order 16, Kubios HRV).
    detrend : {"none", "smoothness_priors"}
        Detrending of the resampled series before the spectrum (Tarvainen et al. 2002).
    hr_average_beats : int, default 1
        Beats in the RR moving average of min / max HR (Kubios "Min/Max HR as average of N beats").

    Returns
    -------
    Analysis

    Raises
    ------
    InvalidRRError
        Non-finite or non-positive input.
    InsufficientDataError
        Fewer than 3 beats (no metric at all can be defined).

    Notes
    -----
    Metric definitions and references are in :mod:`hrv.time_domain` (with :mod:`hrv.heart_rate`,
    :mod:`hrv.long_term` and :mod:`hrv.ans_index`), :mod:`hrv.frequency` and
    :mod:`hrv.nonlinear`. ``duration_s`` is the sum of the RR intervals as given.
    """
    raw = validate_rr(rr)
    require_beats(raw, 3, "an HRV analysis")
    detection = detect_artifacts(raw)
    by_type = {
        c.name.lower(): int(np.count_nonzero(detection.classes == c))
        for c in BeatClass
        if c is not BeatClass.NORMAL
    }
    n_art = int(np.count_nonzero(detection.classes != BeatClass.NORMAL))
    if correct == "auto":
        x: NDArray[np.float64] = correct_artifacts(raw, detection).rr
    elif correct == "none":
        x = raw
    else:
        raise ParameterError(f"correct must be 'auto' or 'none', got {correct!r}")
    notes: list[str] = []

    def t(name: str, fn: Callable[[NDArray[np.float64]], Any]) -> float | None:
        return _num(_attempt(notes, name, lambda: fn(x)))

    time = {
        "mean_rr_ms": t("mean_rr_ms", _td.mean_rr),
        "sdnn_ms": t("sdnn_ms", _td.sdnn),
        "mean_hr_bpm": t("mean_hr_bpm", _td.mean_hr),
        "std_hr_bpm": t("std_hr_bpm", _td.std_hr),
        "min_hr_bpm": t("min_hr_bpm", lambda v: _td.min_hr(v, hr_average_beats)),
        "max_hr_bpm": t("max_hr_bpm", lambda v: _td.max_hr(v, hr_average_beats)),
        "rmssd_ms": t("rmssd_ms", _td.rmssd),
        "sdsd_ms": t("sdsd_ms", _td.sdsd),
        "nn50": t("nn50", _td.nn50),
        "pnn50_pct": t("pnn50_pct", _td.pnn50),
        "ln_rmssd": t("ln_rmssd", _td.ln_rmssd),
        "tri_index": t("tri_index", _td.triangular_index),
        "tinn_ms": t("tinn_ms", _td.tinn),
        "sdann_ms": t("sdann_ms", _td.sdann),
        "sdnn_index_ms": t("sdnn_index_ms", _td.sdnn_index),
        "stress_index": t("stress_index", _td.stress_index),
    }
    si = time["stress_index"]
    ans = None
    if si is not None:  # else the record is too short, and the stress index said why
        ans = _attempt(
            notes, "pns_index, sns_index", lambda: _ans.pns_sns_indexes(x, stress_index_value=si)
        )
    time["pns_index"] = None if ans is None else ans[0]
    time["sns_index"] = None if ans is None else ans[1]
    if ans is not None:
        notes.append(
            "pns_index, sns_index: mean z-scores against published normal values of short-term "
            "resting HRV in healthy adults (Nunan et al. 2010; Baevsky & Chernikova 2017): a "
            "population comparison, not a diagnosis"
        )
    if time["nn50"] is not None:
        time["nn50"] = int(time["nn50"])

    fd = _attempt(
        notes,
        "frequency",
        lambda: _freq.frequency_domain(x, method=psd, detrend=detrend),
    )
    freq_keys = (
        "vlf_ms2",
        "lf_ms2",
        "hf_ms2",
        "total_ms2",
        "lf_hf",
        "lf_nu",
        "hf_nu",
        "vlf_peak_hz",
        "lf_peak_hz",
        "hf_peak_hz",
    )
    frequency: dict[str, float | str | None] = {"method": psd}
    for key in freq_keys:
        frequency[key] = None if fd is None else _num(getattr(fd, key))

    pc = _attempt(notes, "poincare", lambda: _nl.poincare(x))
    nonlinear: dict[str, float | list[float | None] | None] = {
        "sd1_ms": None if pc is None else _num(pc.sd1_ms),
        "sd2_ms": None if pc is None else _num(pc.sd2_ms),
        "sd2_sd1": None if pc is None else _num(pc.sd2_sd1),
        "sampen": t("sampen", _nl.sample_entropy),
        "dfa_alpha1": t("dfa_alpha1", _nl.dfa_alpha1),
        "dfa_alpha2": t("dfa_alpha2", _nl.dfa_alpha2),
    }
    n = int(x.shape[0])
    if n > _nl.ENTROPY_WINDOW_BEATS:
        k = -(-n // _nl.ENTROPY_WINDOW_BEATS)
        notes.append(
            f"sampen: {n} beats, so template matches are counted within {k} consecutive windows "
            f"of about {n // k} beats (tolerance 0.2 SD of each window) and pooled"
        )
    # O(N^2) metrics: on at most the first RQA_MAX_BEATS beats
    xc = x[: _rqa.RQA_MAX_BEATS]
    if n > xc.shape[0]:
        notes.append(
            f"apen, mse, d2, rpa_*: computed on the first {xc.shape[0]} of {n} beats "
            "(their cost grows with the square of the length)"
        )
    nonlinear["apen"] = _num(_attempt(notes, "apen", lambda: _nl.approximate_entropy(xc)))
    nonlinear["mse"] = _attempt(notes, "mse", lambda: _nl.multiscale_entropy(xc))
    rq = _attempt(notes, "rpa", lambda: _rqa.recurrence_and_dimension(xc))
    nonlinear["d2"] = None if rq is None else rq[1]
    if rq is not None and rq[1] is None:
        notes.append("d2: fewer than 3 radii in the scaling region")
    rec = None if rq is None else rq[0]
    nonlinear["rpa_rec_pct"] = None if rec is None else rec.rec_pct
    nonlinear["rpa_det_pct"] = None if rec is None else rec.det_pct
    nonlinear["rpa_lmean"] = None if rec is None else rec.lmean_beats
    nonlinear["rpa_lmax"] = None if rec is None else rec.lmax_beats
    nonlinear["rpa_shannon"] = None if rec is None else rec.shannon
    return Analysis(
        n_beats=int(raw.shape[0]),
        duration_s=float(raw.sum() / 1000.0),
        artifacts=ArtifactSummary(
            n=n_art,
            pct=100.0 * n_art / raw.shape[0],
            by_type=by_type,
            corrected=correct == "auto",
        ),
        time=time,
        frequency=frequency,
        nonlinear=nonlinear,
        notes=tuple(notes),
    )
