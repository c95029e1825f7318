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

import html
import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
from numpy.typing import NDArray
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from dashboard.review import (
    CuePoint,
    MarkerPoint,
    ParticipantReview,
    ParticipantTrace,
    PhaseSpan,
    SynchronyReview,
)
from hrv.arousal import STATE_CODES, STATE_LABELS
from hrv.validate import LONGEST_BEAT_S

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

#: Okabe-Ito palette (name -> hex).
OKABE_ITO: Final[dict[str, str]] = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}
#: Line colour by role; any further person takes the next colour of :data:`_EXTRA_COLOURS`.
ROLE_COLOURS: Final[dict[str, str]] = {
    "patient": OKABE_ITO["blue"],
    "therapist": OKABE_ITO["orange"],
}
_EXTRA_COLOURS: Final[tuple[str, ...]] = (
    OKABE_ITO["bluish_green"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
)
_GREY: Final[str] = "#8C8C8C"
_MARKER_COLOUR: Final[str] = OKABE_ITO["reddish_purple"]
_CUE_COLOUR: Final[str] = OKABE_ITO["bluish_green"]
_BAND_COLOUR: Final[str] = OKABE_ITO["sky_blue"]
_RIBBON_FILLS: Final[tuple[str, str]] = ("#DCEAF5", "#F3E6CC")
#: Largest time between two beats that a line may bridge, s (the longest plausible beat).
_MAX_BRIDGE_S: Final[float] = LONGEST_BEAT_S
_S_PER_MIN: Final[float] = 60.0
#: Paper-coordinate band of the phase ribbon above the plots.
_RIBBON_Y: Final[tuple[float, float]] = (1.015, 1.075)

#: How marker types are named on the figures and in the report.
MARKER_LABELS: Final[dict[str, str]] = {
    "rupture": "Rupture",
    "repair": "Repair",
    "silence": "Silence",
    "sudden_sleepiness": "Sudden sleepiness",
    "looking_away": "Looking away",
    "dissociation_observed": "Dissociation observed (the therapist's observation)",
    "grounding_done": "Grounding done",
    "breathing_exercise": "Breathing exercise",
    "note": "Note",
}
_BAND_CODES: Final[tuple[int, ...]] = tuple(
    i for i, s in enumerate(STATE_CODES) if s in ("above", "within", "below")
)


def _colour(trace: ParticipantTrace, i: int) -> str:
    return ROLE_COLOURS.get(trace.role, _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)])


def _broken(
    t_s: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Minutes and values with a NaN inserted in every gap longer than :data:`_MAX_BRIDGE_S`.

    Plotly leaves a line open at a NaN (``connectgaps=False``), so no line crosses a dropout.
    """
    gaps = np.flatnonzero(np.diff(t_s) > _MAX_BRIDGE_S) + 1
    x = np.insert(t_s / _S_PER_MIN, gaps, np.nan)
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
    gaps = np.flatnonzero(np.diff(t) > _MAX_BRIDGE_S)
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


def plain_text(text: object) -> str:
    """User text (phase labels, marker notes, codes) as literal text in a plotly label.

    plotly.js reads a subset of HTML in every text it draws (``<a href>``, ``<span style>``,
    ``<br>``); a note such as ``<a href="https://x.example">`` would become a live link.
    Escaping ``&``, ``<``, ``>`` and quotes shows the characters instead (plotly decodes these
    entities).

    Examples
    --------
    >>> plain_text('<a href="https://x.example">go</a>')
    '&lt;a href=&quot;https://x.example&quot;&gt;go&lt;/a&gt;'
    """
    return html.escape(str(text), quote=True)


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
            "fillcolor": _BAND_COLOUR,
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
                    "x0": start / _S_PER_MIN,
                    "x1": stop / _S_PER_MIN,
                    "y0": 0.0,
                    "y1": 1.0,
                    "fillcolor": _GREY,
                    "opacity": 0.18,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            grey_x.append((start + stop) / 2.0 / _S_PER_MIN)
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
                marker={"symbol": "square", "size": 9, "color": _GREY, "opacity": 0.6},
                hovertext=grey_text,
                hoverinfo="text",
                meta={"kind": "no_band", "participant": None},
            ),
            row=1,
            col=1,
        )

    for k, span in enumerate(phases):
        x0, x1 = span.start_s / _S_PER_MIN, span.end_s / _S_PER_MIN
        shapes.append(
            {
                "type": "rect",
                "name": f"phase:{span.phase_id}",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": _RIBBON_Y[0],
                "y1": _RIBBON_Y[1],
                "fillcolor": _RIBBON_FILLS[k % 2],
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
                "y": sum(_RIBBON_Y) / 2.0,
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
                    "x0": m.time_s / _S_PER_MIN,
                    "x1": m.time_s / _S_PER_MIN,
                    "y0": 0.0,
                    "y1": 1.0,
                    "line": {"color": _MARKER_COLOUR, "width": 1.2, "dash": "dot"},
                    "layer": "above",
                }
            )
        fig.add_trace(
            go.Scatter(
                x=[m.time_s / _S_PER_MIN for m in markers],
                y=[y_top - 0.2] * len(markers),
                mode="markers",
                name="Markers",
                marker={"symbol": "triangle-down", "size": 11, "color": _MARKER_COLOUR},
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
                x=[c.time_s / _S_PER_MIN for c in cues],
                y=[y_top - 0.8] * len(cues),
                mode="markers",
                name="Cues",
                marker={
                    "symbol": [
                        "diamond" if c.response == "acknowledged" else "diamond-open" for c in cues
                    ],
                    "size": 11,
                    "color": _CUE_COLOUR,
                    "line": {"color": _CUE_COLOUR, "width": 2},
                },
                hovertext=[cue_hover(c) for c in cues],
                hoverinfo="text",
                meta={"kind": "cues", "participant": None},
            ),
            row=1,
            col=1,
        )

    x_range = [0.0, max(t_end / _S_PER_MIN, 1.0)]
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
_MIN_BASELINE_BEATS: Final[int] = 20


def usual_range(
    trace: ParticipantTrace, usual_band: tuple[float, float]
) -> dict[str, tuple[float, float]] | None:
    """The person's usual range of mean HR and RMSSD, from their resting baseline.

    Parameters
    ----------
    trace : ParticipantTrace
        Per-beat values of the review; the baseline is the ``calibrating`` stretch at the start.
    usual_band : tuple of float
        The arousal index's usual band (lower, upper), baseline-SD units
        (:attr:`dashboard.review.SessionReview.usual_band`).

    Returns
    -------
    dict or None
        ``{"mean_hr_bpm": (lo, hi), "rmssd_ms": (lo, hi)}``; None without at least 20 baseline
        beats with both values.

    Notes
    -----
    With :math:`m, s` the mean and SD over the baseline beats and :math:`(a, b)` the usual band:
    HR range :math:`[m_{HR} + a s_{HR}, m_{HR} + b s_{HR}]`; RMSSD range
    :math:`[e^{m_L - b s_L}, e^{m_L - a s_L}]` with :math:`L = \\ln RMSSD` (the arousal index
    rises with HR and falls with ln RMSSD). Computed here from the review's per-beat values (the
    review itself does not report the baseline), so it approximates the tracker's baseline.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(40.0)
    >>> tr = ParticipantTrace("P", "patient", t, np.full(40, np.nan), np.zeros(40, np.int8),
    ...                       np.ones(40), 70.0 + (t % 2), np.full(40, 40.0))
    >>> r = usual_range(tr, (-1.0, 1.0))
    >>> [round(v, 1) for v in r["mean_hr_bpm"]], [round(v, 1) for v in r["rmssd_ms"]]
    ([70.0, 71.0], [40.0, 40.0])
    """
    calibrating = STATE_CODES.index("calibrating")
    hr = trace.mean_hr_bpm
    rm = trace.rmssd_ms
    ok = (trace.state == calibrating) & np.isfinite(hr) & np.isfinite(rm) & (rm > 0)
    if int(np.count_nonzero(ok)) < _MIN_BASELINE_BEATS:
        return None
    a, b = usual_band
    m_hr, s_hr = float(np.mean(hr[ok])), float(np.std(hr[ok]))
    ln = np.log(rm[ok])
    m_l, s_l = float(np.mean(ln)), float(np.std(ln))
    return {
        "mean_hr_bpm": (m_hr + a * s_hr, m_hr + b * s_hr),
        "rmssd_ms": (math.exp(m_l - b * s_l), math.exp(m_l - a * s_l)),
    }


def phase_bars_figure(
    person: ParticipantReview, usual: dict[str, tuple[float, float]] | None
) -> go.Figure:
    """Per-phase mean HR and RMSSD of one person as bars, the usual range shaded behind them.

    Parameters
    ----------
    person : ParticipantReview
        Its ``phases`` rows (a phase without a value gets no bar and a dash).
    usual : dict or None
        :func:`usual_range` of that person (no band when None).

    Returns
    -------
    plotly.graph_objects.Figure
        Two panels; traces carry ``meta = {"kind": "phase_bars", "metric": ...}``, the bands
        are shapes named ``"usual:<metric>"``.
    """
    colour = ROLE_COLOURS.get(person.role, _EXTRA_COLOURS[0])
    labels = [plain_text(r.label) for r in person.phases]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Mean heart rate (bpm)", "RMSSD (ms)"),
        horizontal_spacing=0.1,
    )
    for col, (metric, unit) in enumerate((("mean_hr_bpm", "bpm"), ("rmssd_ms", "ms")), start=1):
        values = [getattr(r, metric) for r in person.phases]
        y = [v if v is not None and math.isfinite(v) else None for v in values]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=y,
                marker_color=colour,
                text=[DASH_TEXT if v is None else f"{v:.0f}" for v in y],
                textposition="outside",
                hovertemplate="%{x}: %{y:.1f} " + unit + "<extra></extra>",
                name=person.code,
                showlegend=False,
                meta={"kind": "phase_bars", "metric": metric},
            ),
            row=1,
            col=col,
        )
        if usual is not None and metric in usual:
            lo, hi = usual[metric]
            fig.add_hrect(
                y0=lo,
                y1=hi,
                row=1,
                col=col,
                fillcolor=_BAND_COLOUR,
                opacity=0.25,
                line_width=0,
                layer="below",
                name=f"usual:{metric}",
            )
        shown = [v for v in y if v is not None]
        if metric == "mean_hr_bpm" and shown:
            # heart rate varies a few bpm around 60-90: an axis from 0 would hide the changes
            lows = [*shown, *(usual[metric] if usual is not None else ())]
            top = max([*shown, *(usual[metric] if usual is not None else ())])
            fig.update_yaxes(range=[max(0.0, min(lows) - 10.0), top + 8.0], row=1, col=col)
        else:
            fig.update_yaxes(rangemode="tozero", row=1, col=col)
    fig.update_layout(
        height=300,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        plot_bgcolor="white",
        bargap=0.35,
    )
    fig.update_yaxes(gridcolor="#EEEEEE")
    return fig


#: Shown instead of a bar or a value that could not be computed.
DASH_TEXT: Final[str] = "\u2013"
#: Two-sided 95 % range of a normal distribution, in SDs.
_Z95: Final[float] = 1.959964


def synchrony_phases_figure(sync: SynchronyReview) -> go.Figure:
    """Synchrony per phase: the real pairing against its surrogate distribution.

    Parameters
    ----------
    sync : SynchronyReview
        Per-phase SUSY statistics with their surrogate comparison.

    Returns
    -------
    plotly.graph_objects.Figure
        Per phase: the pseudo pairings' mean with a +/- 1.96 SD bar (where 95 % of single
        pseudo pairings fall if they are near normal) in grey, and the real pairing's mean
        Fisher z as a dot, with effect size and p on hover; a phase without a value is
        labelled, never plotted.
        Traces carry ``meta = {"kind": "surrogates" | "observed"}``.

    Notes
    -----
    The review carries the pseudo pairings' mean and SD, not every value, so their distribution
    is drawn as mean +/- 1.96 SD. That is the scale of the effect size
    (:math:`(z_{real} - \\bar z_{pseudo}) / SD_{pseudo}`), not of the test: p compares the mean
    over all the phase's segments with the surrogate null of that mean, so a dot inside the grey
    bar can still have a small p. Segment synchrony after Tschacher & Meier (2020).

    References
    ----------
    .. [1] Tschacher W, Meier D (2020). Physiological synchrony in psychotherapy sessions.
       Psychotherapy Research 30(5), 558-573.
    """
    labels = [plain_text(r.label) for r in sync.phases]
    have = [r for r in sync.phases if r.z is not None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[plain_text(r.label) for r in have],
            y=[r.z.surrogate_mean for r in have if r.z is not None],
            error_y={
                "type": "data",
                "array": [_Z95 * r.z.surrogate_sd for r in have if r.z is not None],
                "color": _GREY,
                "thickness": 6,
                "width": 0,
            },
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 18, "color": _GREY},
            name="pseudo pairings (mean, +/- 1.96 SD)",
            hovertemplate="%{x}: surrogates %{y:.3f}<extra></extra>",
            meta={"kind": "surrogates"},
        )
    )
    hover = [
        f"{plain_text(r.label)}: real pairing z {r.z.observed:.3f}<br>"
        f"effect size {r.z.effect_size:.2f}, "
        f"p {_p_text(r.z.p_value, r.z.n_surrogates)}<br>{r.n_segments} segments"
        for r in have
        if r.z is not None
    ]
    fig.add_trace(
        go.Scatter(
            x=[plain_text(r.label) for r in have],
            y=[r.z.observed for r in have if r.z is not None],
            mode="markers",
            marker={"size": 11, "color": OKABE_ITO["blue"]},
            name="therapist and patient (real pairing)",
            hovertext=hover,
            hoverinfo="text",
            meta={"kind": "observed"},
        )
    )
    for r in sync.phases:
        if r.z is None:
            fig.add_annotation(
                x=plain_text(r.label),
                y=0,
                text=r.note or "not computed",
                showarrow=False,
                font={"size": 10, "color": _GREY},
                textangle=-90,
            )
    fig.update_layout(
        height=300,
        margin={"l": 60, "r": 20, "t": 20, "b": 40},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.2},
        xaxis={"categoryorder": "array", "categoryarray": labels},
        yaxis={"title": "mean Fisher z", "gridcolor": "#EEEEEE", "zeroline": True},
    )
    return fig


def _p_text(p: float, n_surrogates: int) -> str:
    floor = 1.0 / (n_surrogates + 1)
    if p <= floor * (1 + 1e-9):
        return f"<= {floor:.3g} (the smallest possible with {n_surrogates} surrogates)"
    return f"{p:.3f}"


def recording_figure(
    rr_ms: NDArray[np.float64],
    artifact: NDArray[np.bool_],
    corrected_rr_ms: NDArray[np.float64],
    freqs_hz: NDArray[np.float64] | None,
    psd_ms2_hz: NDArray[np.float64] | None,
    *,
    psd_method: str = "welch",
    bands_hz: Sequence[tuple[str, float, float]] = (
        ("VLF", 0.0, 0.04),
        ("LF", 0.04, 0.15),
        ("HF", 0.15, 0.40),
    ),
) -> go.Figure:
    """One page of a recording: tachogram with artifacts, spectrum, Poincare plot.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        RR intervals as recorded, ms.
    artifact : numpy.ndarray of bool
        Per recorded beat: classified as an artifact (:func:`hrv.artifacts.detect_artifacts`).
    corrected_rr_ms : numpy.ndarray
        The corrected series the metrics use, ms.
    freqs_hz, psd_ms2_hz : numpy.ndarray or None
        The spectrum (None when the recording is too short for one).
    psd_method : str
        Its estimator, for the title.
    bands_hz : sequence of (name, lo, hi)
        Bands shaded on the spectrum (Task Force 1996).

    Returns
    -------
    plotly.graph_objects.Figure
        Traces carry ``meta = {"kind": ...}``: ``"rr"``, ``"corrected"``, ``"artifacts"``,
        ``"psd"``, ``"poincare"``.

    Notes
    -----
    Poincare plot: :math:`RR_{n+1}` against :math:`RR_n` of the corrected series (Brennan et al.
    2001). Beat times are the cumulative sums of the RR intervals, minutes.

    References
    ----------
    .. [1] Task Force of the ESC and NASPE (1996). Circulation 93(5), 1043-1065.
    .. [2] Brennan M, Palaniswami M, Kamen P (2001). Do existing measures of Poincare plot
       geometry reflect nonlinear features of heart rate variability? IEEE Trans Biomed Eng
       48(11), 1342-1347.
    """
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{"colspan": 2}, None], [{}, {}]],
        row_heights=[0.45, 0.55],
        vertical_spacing=0.12,
        horizontal_spacing=0.1,
        subplot_titles=(
            "Tachogram",
            f"Spectrum ({psd_method})",
            "Poincare plot (corrected)",
        ),
    )
    t_min = np.cumsum(rr_ms) / 1000.0 / _S_PER_MIN
    tc_min = np.cumsum(corrected_rr_ms) / 1000.0 / _S_PER_MIN
    fig.add_trace(
        go.Scattergl(
            x=t_min,
            y=rr_ms,
            mode="lines",
            line={"color": _GREY, "width": 1},
            name="RR as recorded",
            meta={"kind": "rr"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scattergl(
            x=tc_min,
            y=corrected_rr_ms,
            mode="lines",
            line={"color": OKABE_ITO["blue"], "width": 1},
            name="corrected",
            meta={"kind": "corrected"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scattergl(
            x=t_min[artifact],
            y=rr_ms[artifact],
            mode="markers",
            marker={"symbol": "x", "size": 7, "color": OKABE_ITO["reddish_purple"]},
            name=f"artifacts ({int(np.count_nonzero(artifact))})",
            meta={"kind": "artifacts"},
        ),
        row=1,
        col=1,
    )
    if freqs_hz is not None and psd_ms2_hz is not None:
        keep = freqs_hz <= 0.5
        fig.add_trace(
            go.Scatter(
                x=freqs_hz[keep],
                y=psd_ms2_hz[keep],
                mode="lines",
                line={"color": OKABE_ITO["black"], "width": 1.5},
                name="PSD (ms^2/Hz)",
                showlegend=False,
                meta={"kind": "psd"},
            ),
            row=2,
            col=1,
        )
        fills = (_RIBBON_FILLS[1], OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"])
        for (name, lo, hi), fill in zip(bands_hz, fills, strict=False):
            fig.add_vrect(
                x0=lo,
                x1=hi,
                row=2,
                col=1,
                fillcolor=fill,
                opacity=0.18,
                line_width=0,
                layer="below",
                annotation_text=name,
                annotation_position="top",
            )
    else:
        fig.add_annotation(
            text="too short for a spectrum (at least 2 min of beats)",
            xref="x2 domain",
            yref="y2 domain",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
    fig.add_trace(
        go.Scattergl(
            x=corrected_rr_ms[:-1],
            y=corrected_rr_ms[1:],
            mode="markers",
            marker={"size": 3, "color": OKABE_ITO["blue"], "opacity": 0.4},
            name="RR(n+1) against RR(n)",
            showlegend=False,
            meta={"kind": "poincare"},
        ),
        row=2,
        col=2,
    )
    if corrected_rr_ms.size:
        lo_rr, hi_rr = float(corrected_rr_ms.min()), float(corrected_rr_ms.max())
        fig.add_trace(
            go.Scatter(
                x=[lo_rr, hi_rr],
                y=[lo_rr, hi_rr],
                mode="lines",
                line={"color": _GREY, "dash": "dot", "width": 1},
                showlegend=False,
                hoverinfo="skip",
            ),
            row=2,
            col=2,
        )
    fig.update_xaxes(title_text="time (min)", row=1, col=1)
    fig.update_yaxes(title_text="RR (ms)", row=1, col=1)
    fig.update_xaxes(title_text="frequency (Hz)", range=[0, 0.5], row=2, col=1)
    fig.update_yaxes(title_text="PSD (ms^2/Hz)", row=2, col=1)
    fig.update_xaxes(title_text="RR(n) (ms)", row=2, col=2)
    fig.update_yaxes(title_text="RR(n+1) (ms)", scaleanchor="x3", row=2, col=2)
    fig.update_layout(
        height=760,
        plot_bgcolor="white",
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
    )
    fig.update_xaxes(gridcolor="#EEEEEE")
    fig.update_yaxes(gridcolor="#EEEEEE")
    return fig
