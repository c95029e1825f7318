"""The offline post-session report: one self-contained, printable HTML file.

:func:`render_report` turns a :class:`dashboard.review.SessionReview` into HTML: plotly.js is
inlined once from the installed plotly package (no CDN, no request leaves the file; the review
page served by Sintonia references the server's copy instead, ``plotly_src``), each figure
is a ``<div>`` drawn by that script, the tables are plain HTML, and a print style sheet lays it
out on paper. Pure: the only input is the review (and the generation time, passed in).

The report carries the standard wording: the arousal index is a proxy of autonomic activation
relative to the person's own resting baseline; it names no clinical state.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

import plotly.graph_objects as go  # type: ignore[import-untyped]
import plotly.offline  # type: ignore[import-untyped]

from dashboard.figures import (
    cue_hover,
    phase_bars_figure,
    session_figure,
    synchrony_phases_figure,
    usual_range,
)
from dashboard.review import ParticipantReview, SessionReview, SurrogateStat
from dashboard.vocab import MARKER_LABELS

__all__ = ["AROUSAL_NOTICE", "DASH", "render_recording_page", "render_report"]

#: Shown where a value could not be computed from the data (never a number from too little data).
DASH: Final[str] = "\u2013"
#: The standard wording printed at the top of every report.
AROUSAL_NOTICE: Final[str] = (
    "The arousal index is a proxy of autonomic activation (heart rate and heart-rate "
    "variability) relative to each person's own resting baseline at the start of the session. "
    "It names no clinical state and is not a diagnosis: posture, speech, breathing, movement and "
    "caffeine move it too. Grey periods had no reliable signal (or were the resting baseline) "
    "and are shown without an index rather than guessed."
)
_PLOTLY_CONFIG: Final[dict[str, object]] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}
#: Printable width of an A4 page with 12 mm margins, CSS px (96 px per inch), rounded down.
_PRINT_WIDTH_PX: Final[int] = 700
#: Sets ``--print-zoom`` on each figure from its width on screen, so that it fits the paper
#: (plotly draws at a fixed pixel width and does not redraw for print).
_FIT_SCRIPT: Final[str] = (
    "(function(){function fit(){document.querySelectorAll('.figure').forEach(function(el){"
    "var w=el.getBoundingClientRect().width;if(w>0){el.style.setProperty('--print-zoom',"
    f"Math.min(1,{_PRINT_WIDTH_PX}/w).toFixed(3));}}}});}}"
    "window.addEventListener('resize',fit);window.addEventListener('load',fit);fit();})();"
)
_CSS: Final[str] = """
:root { --ink: #1d1d1f; --muted: #5b5b60; --rule: #d9d9de; --band: #eef5fb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; }
header h1 { font-size: 1.6em; margin: 0 0 4px; }
header .meta { color: var(--muted); margin: 0 0 12px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.notice { background: var(--band); border-left: 4px solid #0072B2; padding: 10px 14px;
          margin: 14px 0 8px; }
h2 { font-size: 1.25em; margin: 28px 0 8px; border-bottom: 1px solid var(--rule);
     padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 18px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 0.93em; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); text-align: right;
         vertical-align: top; }
th { background: #f5f5f7; font-weight: 600; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
.note { color: var(--muted); font-size: 0.92em; }
.figure { margin: 4px 0 8px; }
footer { margin-top: 32px; color: var(--muted); font-size: 0.88em; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  .modebar, .modebar-container { display: none !important; }
  section, table, .figure { break-inside: avoid; page-break-inside: avoid; }
  .figure { zoom: var(--print-zoom, 0.62); }
  h2 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    v = float(value)
    if not math.isfinite(v):
        return DASH
    return f"{v:.{digits}f}"


def _clock(t_s: float | None) -> str:
    if t_s is None or not math.isfinite(t_s):
        return DASH
    m, s = divmod(max(round(t_s), 0), 60)
    return f"{m:d}:{s:02d}"


def _mins(t_s: float | None) -> str:
    return DASH if t_s is None else f"{t_s / 60.0:.1f}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], text_cols: int = 1) -> str:
    """An HTML table; cells are already escaped; the first ``text_cols`` columns align left."""
    th = "".join(
        f'<th class="text">{h}</th>' if i < text_cols else f"<th>{h}</th>"
        for i, h in enumerate(head)
    )
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="text">{c}</td>' if i < text_cols else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return ""
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: go.Figure, div_id: str) -> str:
    """A figure as a ``<div class="figure">`` drawn by the page's inlined plotly.js."""
    inner = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=_PLOTLY_CONFIG,
        default_width="100%",
    )
    return f'<div class="figure">{inner}</div>'


def _who(p: ParticipantReview) -> str:
    return f"{_e(p.code)} ({_e(p.role)})"


def _phase_section(review: SessionReview) -> str:
    parts = ["<section><h2>Per phase</h2>"]
    parts.append(
        '<p class="note">Mean HR, RMSSD and ln RMSSD on the artifact-corrected beats of each '
        "phase; time in each band of the arousal index (min); LF/HF only where the phase has at "
        f"least 2 min of uninterrupted beats (Task Force 1996), otherwise {DASH}.</p>"
    )
    head = [
        "Phase",
        "Time",
        "Beats",
        "Mean HR (bpm)",
        "RMSSD (ms)",
        "ln RMSSD",
        "Artifacts (%)",
        "Within usual (min)",
        "Above usual (min)",
        "Below usual (min)",
        "No band (min)",
        "LF/HF",
    ]
    for k, p in enumerate(review.participants):
        rows = [
            [
                _e(r.label),
                f"{_clock(r.start_s)}-{_clock(r.end_s)}",
                str(r.n_beats),
                _num(r.mean_hr_bpm),
                _num(r.rmssd_ms),
                _num(r.ln_rmssd, 2),
                _num(r.artifact_pct, 2),
                _mins(r.within_s),
                _mins(r.above_s),
                _mins(r.below_s),
                _mins(r.no_band_s),
                _num(r.lf_hf, 2),
            ]
            for r in p.phases
        ]
        parts.append(f"<h3>{_who(p)}</h3>")
        if p.phases:
            usual = usual_range(p.trace, review.usual_band)
            band = (
                "the shaded band is this person's usual range, from their resting baseline"
                if usual is not None
                else "no usual range: the resting baseline was too short"
            )
            parts.append(
                f'<p class="note">Mean heart rate and RMSSD per phase; {band}.</p>'
                + _figure(phase_bars_figure(p, usual), f"figure-phases-{k}")
            )
        parts.append(_table(head, rows, text_cols=2) or '<p class="note">No phases.</p>')
    parts.append("</section>")
    return "".join(parts)


def _patterns_section(review: SessionReview) -> str:
    parts = ["<section><h2>Regulation patterns</h2><h3>Activation episodes</h3>"]
    parts.append(
        '<p class="note">Stretches above the usual range: onset is when the index first crossed '
        "into the upper band, recovery the time from the peak back to the usual range.</p>"
    )
    head = ["Person", "Phase", "Onset", "Peak", "Peak index", "Duration (min)", "Recovery", "End"]
    end_words = {
        "recovered": "back to usual range",
        "signal_lost": "signal lost",
        "session_end": "session ended",
    }
    rows = [
        [
            _who(p),
            _e(ep.phase_id or DASH),
            _clock(ep.onset_s),
            _clock(ep.peak_s),
            _num(ep.peak_index, 2),
            _mins(ep.duration_s),
            DASH if ep.recovery_s is None else f"{ep.recovery_s / 60.0:.1f} min",
            _e(end_words[ep.end_reason]),
        ]
        for p in review.participants
        for ep in p.episodes
    ]
    parts.append(_table(head, rows, text_cols=2) or '<p class="note">No activation episodes.</p>')

    parts.append("<h3>The therapist around the patient's episodes</h3>")
    head = [
        "Patient episode",
        "Therapist",
        "Index before",
        "Index during",
        "Index after",
        "Therapist above usual (min)",
        "Therapist peak lag (s)",
    ]
    rows = [
        [
            f"{_e(c.episode.participant)} {_clock(c.episode.onset_s)}-{_clock(c.episode.end_s)}",
            _e(c.therapist),
            _num(c.before_index, 2),
            _num(c.during_index, 2),
            _num(c.after_index, 2),
            _mins(c.therapist_above_s),
            _num(c.peak_lag_s, 0),
        ]
        for c in review.co_activation
    ]
    parts.append(
        _table(head, rows, text_cols=2)
        or '<p class="note">No patient episode to compare the therapist with.</p>'
    )

    parts.append("<h3>Breathing exercise</h3>")
    head = [
        "Marker",
        "Person",
        "RMSSD before (ms)",
        "RMSSD during (ms)",
        "Coherence before",
        "Coherence during",
        "Breathing rate during (/min)",
    ]
    rows = [
        [
            _clock(b.marker_s),
            _e(b.participant),
            _num(b.rmssd_before_ms),
            _num(b.rmssd_during_ms),
            _num(b.coherence_before, 2),
            _num(b.coherence_during, 2),
            _num(b.breathing_rate_during_bpm, 1),
        ]
        for b in review.breathing
    ]
    window = review.breathing[0].window_s if review.breathing else 120.0
    parts.append(
        _table(head, rows, text_cols=2)
        + (
            f'<p class="note">Windows of {window:.0f} s before and after the marker; coherence '
            "ratio over the last 64 s of each (McCraty et al. 2009).</p>"
            if rows
            else '<p class="note">No breathing exercise was marked.</p>'
        )
    )
    parts.append("</section>")
    return "".join(parts)


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_of(stat: SurrogateStat) -> str:
    """A p value, marked when it sits at its floor ``1 / (n + 1)``: then it says only that no
    surrogate reached the observed value."""
    if stat.p_at_floor:
        return f"{_p(stat.p_value)}*"
    return _p(stat.p_value)


def _sync_row(label: str, n_segments: int, z: SurrogateStat | None, *leads: Any) -> list[str]:
    if z is None:
        return [_e(label), str(n_segments), DASH, DASH, DASH, DASH, DASH, DASH]
    return [
        _e(label),
        str(n_segments),
        _num(z.observed, 3),
        f"{_num(z.surrogate_mean, 3)} ({_num(z.surrogate_sd, 3)})",
        _num(z.effect_size, 2),
        _p_of(z),
        *(_num(None if x is None else x.effect_size, 2) for x in leads),
    ]


def _synchrony_section(review: SessionReview) -> str:
    """Synchrony of the session and per phase; every value next to its surrogate comparison (or
    only the note). The whole-session row is the one number the API and the alliance trend give;
    a p at its floor is starred; a dominant lag at the edge of the searched range names no
    leader."""
    parts = ["<section><h2>Therapist-patient synchrony</h2>"]
    sync = review.synchrony
    if sync is None:
        parts.append(f'<p class="note">{_e(review.synchrony_note)}</p></section>')
        return "".join(parts)
    head = [
        "Phase",
        "Segments",
        "Mean z (real pairs)",
        "Surrogates mean (SD)",
        "Effect size",
        "p",
        "Effect size, patient leads",
        "Effect size, therapist leads",
    ]
    rows = [_sync_row("Whole session", sync.n_segments, sync.whole, None, None)]
    for r in sync.phases:
        rows.append(_sync_row(r.label, r.n_segments, r.z, r.patient_leads, r.therapist_leads))
    parts.append(f"<h3>{_e(sync.patient)} and {_e(sync.therapist)}</h3>")
    if any(r.z is not None for r in sync.phases):
        parts.append(
            '<p class="note">Each phase: the real pairing\'s mean Fisher z (dot) against the '
            "pseudo pairings of the surrogate test (grey: their mean, and mean +/- 1.96 SD, "
            "where 95 % of single pseudo pairings fall). The effect size is the distance of the "
            "dot from the grey mean in those SDs; whether it is more than chance pairing gives "
            "is the p value (on hover and in the table), which tests the mean over all "
            "segments.</p>" + _figure(synchrony_phases_figure(sync), "figure-synchrony")
        )
    parts.append(_table(head, rows, text_cols=1))
    stats = [sync.whole, *(r.z for r in sync.phases)]
    if any(s is not None and s.p_at_floor for s in stats):
        parts.append(
            '<p class="note">* p at its floor, 1 / (surrogates + 1): no surrogate pairing '
            "reached the observed value; it is not a smaller p.</p>"
        )
    if sync.wlcc is not None:
        w = sync.wlcc
        leader = {"patient": "the patient leads", "therapist": "the therapist leads"}.get(
            sync.leader or "", "no clear leader"
        )
        if sync.lag_at_edge:
            leader = (
                "at the edge of the lags searched, so not a finding: the real lag may lie "
                "beyond it; no leader is named"
            )
        elif sync.lag_within_uncertainty:
            leader = (
                "within the clocks' uncertainty, so who follows whom cannot be told; no "
                "leader is named"
            )
        if sync.lag_uncertainty_s is None:
            lag_text = f"{_num(sync.wlcc_profile_lag_s, 1)} s ± unknown"
        else:
            lag_text = f"{_num(sync.wlcc_profile_lag_s, 2)} ± {_num(sync.lag_uncertainty_s, 3)} s"
        parts.append(
            "<p>Dominant lag, windowed cross-correlation: mean peak r "
            f"{_num(sync.wlcc_mean_peak_r, 2)}, mean peak z {_num(w.observed, 3)} against "
            f"{_num(w.surrogate_mean, 3)} (SD {_num(w.surrogate_sd, 3)}) for {w.n_surrogates} "
            f"window-shift surrogates: effect size {_num(w.effect_size, 2)}, p {_p_of(w)}; "
            f"dominant lag {lag_text} ({leader}).</p>"
            f'<p class="note">Lag uncertainty: {_e(sync.clock_note)}.</p>'
        )
    parts.append(f'<p class="note">{_e(review.synchrony_note)}</p></section>')
    return "".join(parts)


def _events_section(review: SessionReview) -> str:
    parts = ["<section><h2>Markers and cues</h2>"]
    rows = [
        [
            _clock(m.time_s),
            _e(MARKER_LABELS.get(m.type, m.type)),
            _e(m.participant or DASH),
            _e(m.note or ""),
        ]
        for m in review.markers
    ]
    parts.append("<h3>Markers</h3>")
    parts.append(
        _table(["Time", "Marker", "Person", "Note"], rows, text_cols=4)
        or '<p class="note">No markers.</p>'
    )
    parts.append("<h3>Cues and the therapist's response</h3>")
    rows = []
    for c in review.cues:
        answer = cue_hover(c).rsplit("Therapist: ", 1)[-1]
        rows.append([_clock(c.time_s), _e(c.text), _e(c.reason), _e(answer)])
    parts.append(
        _table(["Time", "Cue", "Why", "Response"], rows, text_cols=4)
        or '<p class="note">No cues were shown.</p>'
    )
    details = [[_clock(c.time_s), _e(c.details)] for c in review.cues if c.details]
    if details:
        parts.append(
            '<details class="researcher"><summary>Details for researchers: the rule and the '
            "numbers behind each cue (arousal indices in baseline SD units, confidences 0-1, "
            "times in s)</summary>"
            + _table(["Time", "Rule and values"], details, text_cols=2)
            + "</details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _quality_section(review: SessionReview) -> str:
    head = [
        "Person",
        "Beats",
        "Artifacts corrected (%)",
        "By type",
        "Dropouts",
        "Time without beats (s)",
        "Disconnects",
        "Reconnects",
        "No band (% of time)",
        "Clock",
        "Clock offset (s)",
        "Drift (ppm)",
        "Clock uncertainty (s)",
    ]
    rows = []
    notes: list[str] = []
    for p in review.participants:
        q = p.quality
        kinds = ", ".join(f"{k} {v}" for k, v in q.artifacts_by_type.items() if v) or "none"
        rows.append(
            [
                _who(p),
                str(q.n_beats),
                _num(q.artifact_pct, 2),
                _e(kinds),
                str(q.dropouts),
                _num(q.dropout_s, 1),
                str(q.disconnects),
                str(q.reconnects),
                _num(q.no_band_pct, 1),
                "local strap" if q.clock.source == "host" else "remote device",
                _num(q.clock.offset_s, 3),
                _num(q.clock.drift_ppm, 1),
                _num(q.clock.uncertainty_s, 3),
            ]
        )
        if q.clock.note and q.clock.note not in notes:
            notes.append(q.clock.note)
    table = _table(head, rows, text_cols=1) or '<p class="note">No beats.</p>'
    clock = "".join(f'<p class="note">Clock, {_e(n)}.</p>' for n in notes)
    return f"<section><h2>Signal quality</h2>{table}{clock}</section>"


def _date(started_at_s: float | None) -> str:
    if started_at_s is None:
        return "not started"
    t = _dt.datetime.fromtimestamp(started_at_s, tz=_dt.UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _plotly_script(plotly_src: str | None) -> str:
    """plotly.js inlined from the installed package, or referenced at ``plotly_src``."""
    if plotly_src is None:
        return f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
    return f'<script src="{_e(plotly_src)}"></script>'


def render_report(
    review: SessionReview, *, generated_at_s: float | None = None, plotly_src: str | None = None
) -> str:
    """Render the HTML report of a session.

    Parameters
    ----------
    review : SessionReview
        From :func:`dashboard.review.review_session`.
    generated_at_s : float, optional
        When the report is generated (Unix epoch, s), printed in the footer.
    plotly_src : str, optional
        Address of plotly.js for a page served by Sintonia (the review page references the
        server's copy, ``/static/vendor/plotly.min.js``, instead of carrying 4.8 MB each time).
        None (default, ``sintonia report``): plotly.js is inlined, the file is self-contained.

    Returns
    -------
    str
        A complete HTML document; with ``plotly_src=None`` nothing is loaded from elsewhere.

    Examples
    --------
    >>> from dashboard.review import SessionInputs, review_session
    >>> page = render_report(review_session(SessionInputs(7, None, None, 60.0)))
    >>> "Session 7" in page and "names no clinical state" in page
    True
    """
    fig = session_figure(
        [p.trace for p in review.participants],
        review.phases,
        review.markers,
        review.cues,
        usual_band=review.usual_band,
    )
    fig_html = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id="figure-session",
        config=_PLOTLY_CONFIG,
        default_width="100%",
    )
    title = f"Session {review.session_id}"
    if review.label:
        title += f": {review.label}"
    people = "".join(f"<li>{_who(p)}</li>" for p in review.participants) or "<li>none</li>"
    notes = "".join(f"<li>{_e(n)}</li>" for n in review.notes)
    generated = "" if generated_at_s is None else f" Generated {_e(_date(generated_at_s))}."
    body = [
        "<header>",
        f"<h1>Sintonia session report: {_e(title)}</h1>",
        f'<p class="meta">Session {review.session_id}, {_e(_date(review.started_at_s))}, '
        f"{review.duration_s / 60.0:.1f} min.</p>",
        '<dl class="facts">',
        f"<dt>Session</dt><dd>{review.session_id}</dd>",
        f"<dt>Date</dt><dd>{_e(_date(review.started_at_s))}</dd>",
        f"<dt>Duration</dt><dd>{review.duration_s / 60.0:.1f} min</dd>",
        f"<dt>Participants (pseudonymous codes)</dt><dd><ul>{people}</ul></dd>",
        "</dl>",
        f'<p class="notice">{_e(AROUSAL_NOTICE)}</p>',
        f'<ul class="note">{notes}</ul>' if notes else "",
        "</header>",
        "<section><h2>Session overview</h2>",
        '<p class="note">Arousal index (top), heart rate and RMSSD of each person on one time '
        "axis, with the phases above, markers (dotted lines, triangles) and cues (diamonds: "
        "filled when taken up). Hover for details.</p>",
        f'<div class="figure">{fig_html}</div></section>',
        _phase_section(review),
        _patterns_section(review),
        _synchrony_section(review),
        _events_section(review),
        _quality_section(review),
        "<footer>",
        "Sintonia post-session report. Times are minutes:seconds from the session start. "
        "HRV definitions: Task Force (1996), Shaffer &amp; Ginsberg (2017); artifact correction: "
        "Lipponen &amp; Tarvainen (2019)." + generated,
        "</footer>",
    ]
    # A served page asks for no /favicon.ico (a 404 in the console); the offline file links nothing.
    icon = [] if plotly_src is None else ['<link rel="icon" href="data:,">']
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            *icon,
            f"<title>{_e(title)} - Sintonia report</title>",
            f"<style>{_CSS}</style>",
            _plotly_script(plotly_src),
            "</head><body>",
            *body,
            f'<script type="text/javascript">{_FIT_SCRIPT}</script>',
            "</body></html>",
        ]
    )


def render_recording_page(
    title: str, fig: go.Figure, facts: Sequence[tuple[str, str]], *, note: str = ""
) -> str:
    """A one-page, offline HTML figure of a recording (``sintonia analyze --html``).

    Parameters
    ----------
    title : str
        Page title (the file name).
    fig : plotly.graph_objects.Figure
        :func:`dashboard.figures.recording_figure`.
    facts : sequence of (str, str)
        Label and value pairs shown above the figure (beats, duration, artifacts, metrics).
    note : str
        A line under the facts.

    Returns
    -------
    str
        A complete HTML document; plotly.js is inlined from the installed plotly package, no
        request leaves the file.
    """
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)} - Sintonia recording</title>",
            f"<style>{_CSS}</style>",
            _plotly_script(None),
            "</head><body>",
            f"<header><h1>{_e(title)}</h1>",
            f'<dl class="facts">{dl}</dl>',
            f'<p class="note">{_e(note)}</p>' if note else "",
            "</header>",
            _figure(fig, "figure-recording"),
            "<footer>Sintonia recording figure. HRV definitions: Task Force (1996); artifact "
            "detection and correction: Lipponen &amp; Tarvainen (2019).</footer>",
            f'<script type="text/javascript">{_FIT_SCRIPT}</script>',
            "</body></html>",
        ]
    )
