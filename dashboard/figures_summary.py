"""Figures of summaries: a person's values per phase, co-regulation per phase, one recording.

Pure presentation like :mod:`dashboard.figures` (which re-exports these): dataclasses of
:mod:`dashboard.review` or arrays in, a :class:`plotly.graph_objects.Figure` out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
from numpy.typing import NDArray
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from dashboard.figure_style import (
    BAND_COLOUR,
    DASH_TEXT,
    EXTRA_COLOURS,
    GREY,
    OKABE_ITO,
    RIBBON_FILLS,
    ROLE_COLOURS,
    S_PER_MIN,
    plain_text,
)
from dashboard.review import ParticipantReview, ParticipantTrace, SynchronyReview
from hrv.arousal import STATE_CODES

__all__ = ["phase_bars_figure", "recording_figure", "synchrony_phases_figure", "usual_range"]

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
    colour = ROLE_COLOURS.get(person.role, EXTRA_COLOURS[0])
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
                fillcolor=BAND_COLOUR,
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
                "color": GREY,
                "thickness": 6,
                "width": 0,
            },
            mode="markers",
            marker={"symbol": "line-ew-open", "size": 18, "color": GREY},
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
                font={"size": 10, "color": GREY},
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
    t_min = np.cumsum(rr_ms) / 1000.0 / S_PER_MIN
    tc_min = np.cumsum(corrected_rr_ms) / 1000.0 / S_PER_MIN
    fig.add_trace(
        go.Scattergl(
            x=t_min,
            y=rr_ms,
            mode="lines",
            line={"color": GREY, "width": 1},
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
        fills = (RIBBON_FILLS[1], OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"])
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
                line={"color": GREY, "dash": "dot", "width": 1},
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
