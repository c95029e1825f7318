"""Plotly figure builders shared by the live page and the post-session report.

Pure presentation: arrays and dataclasses in (:mod:`dashboard.review` types), a
:class:`plotly.graph_objects.Figure` out; no I/O, no computation beyond laying out what is given.

:func:`session_figure` draws, on one time axis in minutes from the session start:

* row 1: the arousal index of each person (patient and therapist), the usual-range band shaded;
  while a person is ``calibrating`` or ``uncertain`` (or has no beats) no line is drawn and the
  period is greyed (never interpolated or guessed); markers as vertical dotted lines with a symbol
  and hover text, cues as symbols with their reason and the therapist's response on hover;
* rows 2 and 3: heart rate (10 s mean) and RMSSD (60 s) of each person;
* above the plot: the phase ribbon, one shape and label per phase.

Colours are the Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008); nothing is red.

The palette and text helpers are in :mod:`dashboard.figure_style`, the words of marker types in
:mod:`dashboard.vocab`; the figures of summaries (per phase, one recording) in
:mod:`dashboard.figures_summary`, re-exported here.

For the live page (issue 6): traces carry ``meta = {"kind": ..., "participant": code}`` with kinds
``"arousal"``, ``"hr"``, ``"rmssd"``, ``"markers"``, ``"cues"``, ``"no_band"``; shapes are named
``"usual-range"``, ``"phase:<id>"``, ``"marker:<type>"`` and ``"no-band:<code>:<state>"``. The x
values are minutes from the session start; ``window_min`` sets the initial visible range to the
last minutes (the live page's 10-minute view), zoomable to the whole session.

References
----------
.. [1] Okabe M, Ito K (2008). Color Universal Design (CUD): how to make figures and presentations
   that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
from numpy.typing import NDArray
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from dashboard.figure_style import (
    BAND_COLOUR,
    CUE_COLOUR,
    DASH_TEXT,
    EXTRA_COLOURS,
    GREY,
    MARKER_COLOUR,
    MAX_BRIDGE_S,
    OKABE_ITO,
    RIBBON_FILLS,
    RIBBON_Y,
    ROLE_COLOURS,
    S_PER_MIN,
    plain_text,
)
from dashboard.figures_summary import (
    phase_bars_figure,
    recording_figure,
    synchrony_phases_figure,
    usual_range,
)
from dashboard.review import (
    CuePoint,
    MarkerPoint,
    ParticipantTrace,
    PhaseSpan,
)
from dashboard.vocab import MARKER_LABELS
from hrv.arousal import STATE_CODES, STATE_LABELS

__all__ = [
    "DASH_TEXT",
    "MARKER_LABELS",
    "OKABE_ITO",
    "ROLE_COLOURS",
    "arousal_traces",
    "cue_hover",
    "no_band_periods",
    "phase_bars_figure",
    "plain_text",
    "recording_figure",
    "session_figure",
    "synchrony_phases_figure",
    "usual_range",
]

_BAND_CODES: Final[tuple[int, ...]] = tuple(
    i for i, s in enumerate(STATE_CODES) if s in ("above", "within", "below")
)


def _colour(trace: ParticipantTrace, i: int) -> str:
    return ROLE_COLOURS.get(trace.role, EXTRA_COLOURS[i % len(EXTRA_COLOURS)])


def _broken(
    t_s: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Minutes and values with a NaN inserted in every gap longer than :data:`MAX_BRIDGE_S`.

    Plotly leaves a line open at a NaN (``connectgaps=False``), so no line crosses a dropout.
    """
    gaps = np.flatnonzero(np.diff(t_s) > MAX_BRIDGE_S) + 1
    x = np.insert(t_s / S_PER_MIN, gaps, np.nan)
    return x, np.insert(y, gaps, np.nan)


def no_band_periods(trace: ParticipantTrace) -> list[tuple[float, float, str]]:
    """Periods without a band: ``(start_s, end_s, state)`` with state ``calibrating``,
    ``uncertain`` or ``no beats``.

    A run of calibrating/uncertain beats lasts from its first beat to the next beat after it; a
    gap between beats longer than 2.5 s is ``no beats``.

    Examples
    --------
    >>> t = np.arange(10.0)
    >>> st = np.array([0, 0, 0, 3, 3, 1, 1, 3, 3, 3], dtype=np.int8)  # codes of STATE_CODES
    >>> tr = ParticipantTrace("P", "patient", t, np.zeros(10), st, np.ones(10),
    ...                       np.zeros(10), np.zeros(10))
    >>> no_band_periods(tr)
    [(0.0, 3.0, 'calibrating'), (5.0, 7.0, 'uncertain')]
    """
    t = trace.time_s
    n = t.shape[0]
    out: list[tuple[float, float, str]] = []
    if n == 0:
        return out
    code = trace.state.astype(np.int64)
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], n]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):  # runs, not beats
        c = int(code[a])
        if c in _BAND_CODES:
            continue
        stop = float(t[b]) if b < n else float(t[-1])
        out.append((float(t[a]), stop, STATE_CODES[c]))
    gaps = np.flatnonzero(np.diff(t) > MAX_BRIDGE_S)
    out.extend((float(t[k]), float(t[k + 1]), "no beats") for k in gaps.tolist())
    out.sort()
    return out


def arousal_traces(trace: ParticipantTrace) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """x (minutes) and y of a person's arousal line: NaN wherever there is no band.

    Examples
    --------
    >>> tr = ParticipantTrace("P", "patient", np.array([0.0, 60.0, 61.0]),
    ...                       np.array([np.nan, 0.4, 0.6]), np.array([0, 3, 1], dtype=np.int8),
    ...                       np.ones(3), np.zeros(3), np.zeros(3))
    >>> arousal_traces(tr)[1].tolist()
    [nan, nan, 0.4, nan]
    """
    banded = np.isin(trace.state, _BAND_CODES)
    y = np.where(banded, trace.arousal_index, np.nan)
    return _broken(trace.time_s, y)


def cue_hover(cue: CuePoint) -> str:
    """Hover text of a cue: the suggestion, its reason and what the therapist did.

    Examples
    --------
    >>> cue_hover(CuePoint(600.0, "map_pacing", "Consider a pause", "held 45 s",
    ...                    "acknowledged", 606.0))
    'Cue at 10:00: Consider a pause<br>Why: held 45 s<br>Therapist: acknowledged after 6 s'
    """
    if cue.response is None:
        answer = "no response recorded"
    elif cue.responded_at_s is not None:
        answer = f"{cue.response} after {cue.responded_at_s - cue.time_s:.0f} s"
    else:
        answer = cue.response
    return (
        f"Cue at {_clock(cue.time_s)}: {plain_text(cue.text)}<br>Why: {plain_text(cue.reason)}"
        f"<br>Therapist: {answer}"
    )


def _clock(t_s: float) -> str:
    m, s = divmod(max(round(t_s), 0), 60)
    return f"{m:d}:{s:02d}"


def _marker_hover(m: MarkerPoint) -> str:
    label = MARKER_LABELS.get(m.type, m.type.replace("_", " ").capitalize())
    text = f"{label} at {_clock(m.time_s)}"
    if m.participant:
        text += f" ({plain_text(m.participant)})"
    if m.note:
        text += f"<br>{plain_text(m.note)}"
    return text


def session_figure(
    traces: Sequence[ParticipantTrace],
    phases: Sequence[PhaseSpan] = (),
    markers: Sequence[MarkerPoint] = (),
    cues: Sequence[CuePoint] = (),
    *,
    usual_band: tuple[float, float] = (-1.0, 1.0),
    window_min: float | None = None,
    height_px: int = 640,
) -> go.Figure:
    """Arousal, HR and RMSSD of both people on one time axis, with phases, markers and cues.

    Parameters
    ----------
    traces : sequence of ParticipantTrace
        One per person (times in s from the session start).
    phases : sequence of PhaseSpan
        The phase ribbon.
    markers, cues : sequences of MarkerPoint, CuePoint
    usual_band : (float, float)
        Arousal index limits of the usual range (the tracker's entry thresholds of ``below`` and
        ``above``, baseline-SD units).
    window_min : float, optional
        Show only the last ``window_min`` minutes initially (the live view); default the whole
        session.
    height_px : int
        Figure height, px.

    Returns
    -------
    plotly.graph_objects.Figure

    Notes
    -----
    x is :math:`t / 60` (minutes from the session start). A line is drawn only where the person's
    state is a band (above / within / below); elsewhere the period is shaded grey.

    Examples
    --------
    >>> fig = session_figure([], [PhaseSpan("welcome", "Welcome", 0.0, 600.0)])
    >>> [s.name for s in fig.layout.shapes]
    ['usual-range', 'phase:welcome']
    """
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.56, 0.22, 0.22],
        vertical_spacing=0.04,
    )
    lo, hi = usual_band
    shapes: list[dict[str, Any]] = [
        {
            "type": "rect",
            "name": "usual-range",
            "xref": "x domain",
            "yref": "y",
            "x0": 0.0,
            "x1": 1.0,
            "y0": lo,
            "y1": hi,
            "fillcolor": BAND_COLOUR,
            "opacity": 0.18,
            "line": {"width": 0},
            "layer": "below",
        }
    ]
    annotations: list[dict[str, Any]] = [
        {
            "text": "usual range",
            "xref": "x domain",
            "yref": "y",
            "x": 1.0,
            "y": hi,
            "xanchor": "right",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 11, "color": "#335"},
        }
    ]
    finite = [tr.arousal_index[np.isfinite(tr.arousal_index)] for tr in traces]
    all_idx = np.concatenate(finite) if finite else np.zeros(0)
    y_top = max(hi + 1.5, float(all_idx.max()) + 0.5 if all_idx.size else hi + 1.5)
    y_bottom = min(lo - 1.5, float(all_idx.min()) - 0.5 if all_idx.size else lo - 1.5)
    t_end = max([float(tr.time_s[-1]) for tr in traces if tr.time_s.size] + [0.0])
    if phases:
        t_end = max(t_end, max(p.end_s for p in phases))

    grey_x: list[float] = []
    grey_text: list[str] = []
    for i, tr in enumerate(traces):
        colour = _colour(tr, i)
        name = f"{plain_text(tr.code)} ({tr.role})"
        x, y = arousal_traces(tr)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=name,
                legendgroup=tr.code,
                line={"color": colour, "width": 2},
                connectgaps=False,
                meta={"kind": "arousal", "participant": tr.code},
                hovertemplate=f"{name}<br>%{{x:.1f}} min<br>index %{{y:.2f}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        for row, values, kind, unit in (
            (2, tr.mean_hr_bpm, "hr", "bpm"),
            (3, tr.rmssd_ms, "rmssd", "ms"),
        ):
            xs, ys = _broken(tr.time_s, values)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=f"{name} {kind.upper()}",
                    legendgroup=tr.code,
                    showlegend=False,
                    line={"color": colour, "width": 1.2},
                    connectgaps=False,
                    meta={"kind": kind, "participant": tr.code},
                    hovertemplate=f"{name}<br>%{{x:.1f}} min<br>%{{y:.1f}} {unit}<extra></extra>",
                ),
                row=row,
                col=1,
            )
        for start, stop, state in no_band_periods(tr):
            shapes.append(
                {
                    "type": "rect",
                    "name": f"no-band:{tr.code}:{state}",
                    "xref": "x",
                    "yref": "y domain",
                    "x0": start / S_PER_MIN,
                    "x1": stop / S_PER_MIN,
                    "y0": 0.0,
                    "y1": 1.0,
                    "fillcolor": GREY,
                    "opacity": 0.18,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            grey_x.append((start + stop) / 2.0 / S_PER_MIN)
            label = STATE_LABELS.get(state, state)
            grey_text.append(
                f"{tr.code}: {label}, {_clock(start)}-{_clock(stop)}"
                "<br>no index shown (not guessed)"
            )
    if grey_x:
        fig.add_trace(
            go.Scatter(
                x=grey_x,
                y=[y_bottom + 0.3] * len(grey_x),
                mode="markers",
                name="calibrating / signal uncertain (grey)",
                marker={"symbol": "square", "size": 9, "color": GREY, "opacity": 0.6},
                hovertext=grey_text,
                hoverinfo="text",
                meta={"kind": "no_band", "participant": None},
            ),
            row=1,
            col=1,
        )

    for k, span in enumerate(phases):
        x0, x1 = span.start_s / S_PER_MIN, span.end_s / S_PER_MIN
        shapes.append(
            {
                "type": "rect",
                "name": f"phase:{span.phase_id}",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": RIBBON_Y[0],
                "y1": RIBBON_Y[1],
                "fillcolor": RIBBON_FILLS[k % 2],
                "line": {"width": 1, "color": "#FFFFFF"},
                "layer": "above",
            }
        )
        annotations.append(
            {
                "text": plain_text(span.label),
                "xref": "x",
                "yref": "paper",
                "x": (x0 + x1) / 2.0,
                "y": sum(RIBBON_Y) / 2.0,
                "showarrow": False,
                "font": {"size": 11, "color": "#222"},
                "hovertext": f"{plain_text(span.label)}: "
                f"{_clock(span.start_s)}-{_clock(span.end_s)}",
            }
        )

    if markers:
        for m in markers:
            shapes.append(
                {
                    "type": "line",
                    "name": f"marker:{m.type}",
                    "xref": "x",
                    "yref": "paper",
                    "x0": m.time_s / S_PER_MIN,
                    "x1": m.time_s / S_PER_MIN,
                    "y0": 0.0,
                    "y1": 1.0,
                    "line": {"color": MARKER_COLOUR, "width": 1.2, "dash": "dot"},
                    "layer": "above",
                }
            )
        fig.add_trace(
            go.Scatter(
                x=[m.time_s / S_PER_MIN for m in markers],
                y=[y_top - 0.2] * len(markers),
                mode="markers",
                name="Markers",
                marker={"symbol": "triangle-down", "size": 11, "color": MARKER_COLOUR},
                hovertext=[_marker_hover(m) for m in markers],
                hoverinfo="text",
                meta={"kind": "markers", "participant": None},
            ),
            row=1,
            col=1,
        )
    if cues:
        fig.add_trace(
            go.Scatter(
                x=[c.time_s / S_PER_MIN for c in cues],
                y=[y_top - 0.8] * len(cues),
                mode="markers",
                name="Cues",
                marker={
                    "symbol": [
                        "diamond" if c.response == "acknowledged" else "diamond-open" for c in cues
                    ],
                    "size": 11,
                    "color": CUE_COLOUR,
                    "line": {"color": CUE_COLOUR, "width": 2},
                },
                hovertext=[cue_hover(c) for c in cues],
                hoverinfo="text",
                meta={"kind": "cues", "participant": None},
            ),
            row=1,
            col=1,
        )

    x_range = [0.0, max(t_end / S_PER_MIN, 1.0)]
    if window_min is not None and math.isfinite(window_min) and window_min > 0:
        x_range = [max(x_range[1] - window_min, 0.0), x_range[1]]
    fig.update_layout(
        shapes=shapes,
        annotations=annotations,
        height=height_px,
        margin={"l": 70, "r": 20, "t": 60, "b": 50},
        template="plotly_white",
        font={"size": 13},
        hovermode="closest",
        legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0.0},
        uirevision="session",
    )
    fig.update_yaxes(title_text="Arousal index", range=[y_bottom, y_top], row=1, col=1)
    fig.update_yaxes(title_text="HR (bpm)", row=2, col=1)
    fig.update_yaxes(title_text="RMSSD (ms)", row=3, col=1)
    fig.update_xaxes(range=x_range)
    fig.update_xaxes(title_text="Minutes from session start", row=3, col=1)
    return fig


# ------------------------------------------------------------- report figures (issue 13, item 12)

#: Fewest calibration (resting-baseline) beats for a usual range.
