"""Post-session review: what happened in one session, computed from stored beats and events.

Pure: arrays and small dataclasses in (:class:`SessionInputs`, built from the store by
:mod:`server.review_data`), one frozen :class:`SessionReview` out; no I/O, clock or plotting.
The figures and the HTML report (:mod:`dashboard.figures`, :mod:`dashboard.report`) only present
what is computed here.

Every number comes from the one derivation of stored beats, :func:`hrv.derive.derive`: the live
engine and the arousal tracker replayed over each person's beats (so that the review shows what the
therapist saw), and the Lipponen & Tarvainen (2019) corrected series per gap-free segment, from
which :func:`hrv.derive.interval_stats` gives the per-phase table, selected by time. The exports
and the cohort call the same functions on the same beats, so they show the same numbers.

All times in a review are seconds from the session start (float64); RR in ms.

References
----------
.. [1] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065 (short-term
   spectral analysis needs at least 2 min of recording for LF).
.. [2] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol 43(3), 173-181.
.. [3] McCraty R, Atkinson M, Tomasino D, Bradley RT (2009). The coherent heart. Integral Review
   5(2), 10-115 (coherence ratio over 64 s windows).
.. [4] Shaffer F, Ginsberg JP (2017). An overview of heart rate variability metrics and norms.
   Frontiers in Public Health 5, 258.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from dashboard.phases import PhaseTemplate, actual_phases, stat_bounds
from dashboard.review_model import (
    ActivationEpisode,
    BreathingResponse,
    ClockEstimate,
    CoActivation,
    CuePoint,
    DeviceEventPoint,
    EpisodeEnd,
    MarkerPoint,
    ParticipantBeats,
    ParticipantReview,
    ParticipantTrace,
    PhaseEventPoint,
    PhaseRow,
    PhaseSpan,
    PhaseSynchrony,
    ReviewConfig,
    ReviewError,
    SessionInputs,
    SessionReview,
    SignalQuality,
    SurrogateStat,
    SynchronyReview,
)
from hrv import synchrony as _sync
from hrv.arousal import STATE_CODES, ArousalSeries
from hrv.coherence import BREATHING_MIN_CONFIDENCE, COHERENCE_WINDOW_S, coherence_ratio
from hrv.derive import (
    IRREGULAR_PCT_LIMIT,
    LF_HF_MIN_DURATION_S,
    LONGEST_BEAT_S,
    SYNCHRONY_SMOOTH_S,
    Derivation,
    StoredBeats,
    derive,
    dyad_synchrony,
    interval_stats,
)
from hrv.errors import InsufficientDataError, SintoniaError

__all__ = [
    "LF_HF_MIN_DURATION_S",
    "SYNCHRONY_SMOOTH_S",
    "ActivationEpisode",
    "BreathingResponse",
    "ClockEstimate",
    "CoActivation",
    "CuePoint",
    "DeviceEventPoint",
    "EpisodeEnd",
    "MarkerPoint",
    "ParticipantBeats",
    "ParticipantReview",
    "ParticipantTrace",
    "PhaseEventPoint",
    "PhaseRow",
    "PhaseSpan",
    "PhaseSynchrony",
    "ReviewConfig",
    "ReviewError",
    "SessionInputs",
    "SessionReview",
    "SignalQuality",
    "SurrogateStat",
    "SynchronyReview",
    "lag_uncertainty",
    "phase_spans",
    "review_session",
    "synchrony_section",
]

_BAND_STATES: Final[frozenset[str]] = frozenset({"above", "within", "below"})
_CODE: Final[dict[str, int]] = {name: i for i, name in enumerate(STATE_CODES)}


# ------------------------------------------------------------------------------------ phases


def phase_spans(
    events: Sequence[PhaseEventPoint], template: PhaseTemplate, end_s: float
) -> tuple[PhaseSpan, ...]:
    """The phases as they actually ran, from the stored phase events.

    The one rule of :func:`dashboard.phases.actual_phases` (used by the exports and the cohort
    too), on session-relative times from 0 to ``end_s``.

    Parameters
    ----------
    events : sequence of PhaseEventPoint
        In time order; ``enter`` starts a phase (and ends the previous one), ``end`` ends the
        session, ``extend`` changes nothing that already happened.
    template : PhaseTemplate
        For the labels, and for the plan when no event was recorded.
    end_s : float
        End of the session, s (closes a phase still open).

    Returns
    -------
    tuple of PhaseSpan
        Without events, the planned schedule from 0 cut at ``end_s``.

    Examples
    --------
    >>> ev = [PhaseEventPoint(0.0, "welcome", "enter"), PhaseEventPoint(500.0, "map", "enter")]
    >>> [(p.phase_id, p.start_s, p.end_s) for p in phase_spans(ev, DEFAULT_FIRST_SESSION, 900.0)]
    [('welcome', 0.0, 500.0), ('map', 500.0, 900.0)]
    """
    index_of = {p.id: i for i, p in enumerate(template.phases)}
    intervals = actual_phases(
        [(e.time_s, e.phase_id, index_of.get(e.phase_id, 0), e.action) for e in events],
        template,
        0.0,
        end_s,
    )
    return tuple(PhaseSpan(p.name, p.label, p.start_s, p.end_s) for p in intervals)


# ------------------------------------------------------------------------------------ kernels


def _opt(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _derive(p: ParticipantBeats, cfg: ReviewConfig) -> Derivation:
    """The one derivation of a person's beats (as :meth:`server.readmodel.PersonRecord.derivation`
    computes it for the exports: session-relative times, baseline from time 0)."""
    return derive(
        StoredBeats.from_arrays(p.time_s, p.rr_ms, p.gap_before, p.contact),
        session_start_s=0.0,
        participant=p.code,
        stream_config=cfg.stream,
        arousal_config=cfg.arousal,
    )


def _hold_durations(t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Time each beat's state is held: until the next beat, at most one longest beat."""
    if t.shape[0] == 0:
        return np.zeros(0)
    return np.minimum(np.diff(t, append=t[-1]), LONGEST_BEAT_S)


def _phase_rows(
    d: Derivation,
    series: ArousalSeries,
    spans: Sequence[PhaseSpan],
    cfg: ReviewConfig,
) -> tuple[PhaseRow, ...]:
    starts, ends = stat_bounds([s.start_s for s in spans], [s.end_s for s in spans])
    stats = interval_stats(d, starts, ends, lf_hf_min_s=cfg.lf_hf_min_s)
    hold = _hold_durations(series.time_s)
    rows: list[PhaseRow] = []
    for i, span in enumerate(spans):  # a handful of phases; the beats inside are sliced
        sa_, sb = np.searchsorted(series.time_s, [span.start_s, span.end_s]).tolist()
        secs = np.bincount(
            series.state[sa_:sb].astype(np.intp), weights=hold[sa_:sb], minlength=len(STATE_CODES)
        )
        within = float(secs[_CODE["within"]])
        above = float(secs[_CODE["above"]])
        below = float(secs[_CODE["below"]])
        row = stats.row(i)
        rows.append(
            PhaseRow(
                phase_id=span.phase_id,
                label=span.label,
                start_s=span.start_s,
                end_s=span.end_s,
                n_beats=int(stats.n_beats[i]),
                mean_hr_bpm=row["mean_hr_bpm"],
                rmssd_ms=row["rmssd_ms"],
                ln_rmssd=row["ln_rmssd"],
                artifact_pct=row["artifact_pct"],
                within_s=within,
                above_s=above,
                below_s=below,
                no_band_s=max(span.duration_s - within - above - below, 0.0),
                lf_hf=row["lf_hf"],
                irregular_pct=row["irregular_pct"],
            )
        )
    return tuple(rows)


def _phase_at(spans: Sequence[PhaseSpan], t: float) -> str | None:
    for s in spans:
        if s.start_s <= t < s.end_s:
            return s.phase_id
    return None


def _episodes(
    code: str, series: ArousalSeries, spans: Sequence[PhaseSpan], end_s: float
) -> tuple[ActivationEpisode, ...]:
    out: list[ActivationEpisode] = []
    changes = series.changes
    for i, ch in enumerate(changes):  # state changes (events), not beats
        if ch.to_state != "above":
            continue
        nxt = changes[i + 1] if i + 1 < len(changes) else None
        if nxt is None:
            end, reason = end_s, "session_end"
        elif nxt.to_state in _BAND_STATES:
            end, reason = nxt.onset_s, "recovered"
        else:
            end, reason = nxt.time_s, "signal_lost"
        onset = ch.onset_s
        sel = (series.time_s >= onset) & (series.time_s <= end) & np.isfinite(series.index)
        if not sel.any():
            continue
        k = int(np.argmax(np.where(sel, series.index, -np.inf)))
        peak_s = float(series.time_s[k])
        out.append(
            ActivationEpisode(
                participant=code,
                onset_s=onset,
                detected_s=ch.time_s,
                peak_s=peak_s,
                peak_index=float(series.index[k]),
                end_s=end,
                duration_s=end - onset,
                recovery_s=end - peak_s if reason == "recovered" else None,
                end_reason=reason,  # type: ignore[arg-type]
                phase_id=_phase_at(spans, onset),
            )
        )
    return tuple(out)


def _known_mean(series: ArousalSeries, lo: float, hi: float) -> float | None:
    known = np.isin(series.state, [_CODE[s] for s in _BAND_STATES])
    sel = (series.time_s >= lo) & (series.time_s < hi) & known & np.isfinite(series.index)
    return float(series.index[sel].mean()) if sel.any() else None


def _co_activation(
    episodes: Sequence[ActivationEpisode], code: str, series: ArousalSeries, window_s: float
) -> tuple[CoActivation, ...]:
    hold = _hold_durations(series.time_s)
    above = series.state == _CODE["above"]
    out: list[CoActivation] = []
    for ep in episodes:
        during = (series.time_s >= ep.onset_s) & (series.time_s < ep.end_s)
        around = (
            (series.time_s >= ep.onset_s)
            & (series.time_s < ep.end_s + window_s)
            & np.isfinite(series.index)
        )
        lag: float | None = None
        if around.any():
            k = int(np.argmax(np.where(around, series.index, -np.inf)))
            lag = float(series.time_s[k]) - ep.peak_s
        out.append(
            CoActivation(
                episode=ep,
                therapist=code,
                before_index=_known_mean(series, ep.onset_s - window_s, ep.onset_s),
                during_index=_known_mean(series, ep.onset_s, ep.end_s),
                after_index=_known_mean(series, ep.end_s, ep.end_s + window_s),
                therapist_above_s=float(hold[during & above].sum()),
                peak_lag_s=lag,
            )
        )
    return tuple(out)


def _coherence(d: Derivation, lo: float, hi: float) -> tuple[float | None, float | None]:
    """Coherence ratio and breathing rate of the corrected beats of ``[lo, hi)`` (one segment:
    the last one in the window, as a spectrum must not span a gap)."""
    a, b = np.searchsorted(d.c_time_s, [lo, hi]).tolist()
    if b <= a:
        return None, None
    seg = d.c_segment[a:b]
    a += int(np.flatnonzero(seg == seg[-1])[0])
    try:
        c = coherence_ratio(d.c_rr_ms[a:b], window_s=COHERENCE_WINDOW_S)
    except InsufficientDataError:
        return None, None
    rate = c.breathing_rate_bpm if c.breathing_confidence >= BREATHING_MIN_CONFIDENCE else math.nan
    return _opt(c.ratio), _opt(rate)


def _breathing(marker_s: float, p: ParticipantBeats, d: Derivation, w: float) -> BreathingResponse:
    st = interval_stats(d, [marker_s - w, marker_s], [marker_s, marker_s + w], lf_hf=False)
    coh_b, _ = _coherence(d, marker_s - w, marker_s)
    coh_d, rate_d = _coherence(d, marker_s, marker_s + w)
    return BreathingResponse(
        marker_s=marker_s,
        participant=p.code,
        window_s=w,
        rmssd_before_ms=_opt(float(st.rmssd_ms[0])),
        rmssd_during_ms=_opt(float(st.rmssd_ms[1])),
        coherence_before=coh_b,
        coherence_during=coh_d,
        breathing_rate_during_bpm=rate_d,
    )


def _quality(
    p: ParticipantBeats,
    d: Derivation,
    series: ArousalSeries,
    events: Sequence[DeviceEventPoint],
) -> SignalQuality:
    n = len(d)
    by_type = d.by_type()
    n_art = int(np.count_nonzero(d.is_artifact))
    # silences between segments: from the last beat of one to the start of the next's first
    c_t, c_rr, c_seg = d.c_time_s, d.c_rr_ms, d.c_segment
    firsts = np.flatnonzero(np.diff(c_seg)) + 1 if c_seg.size else np.zeros(0, np.intp)
    lost = c_t[firsts] - c_rr[firsts] / 1000.0 - c_t[firsts - 1] if firsts.size else np.zeros(0)
    hold = _hold_durations(series.time_s)
    no_band = np.isin(series.state, [_CODE["calibrating"], _CODE["uncertain"]])
    total = float(hold.sum())
    mine = [e for e in events if e.participant in (p.code, str(p.participant_id))]
    n_connected = sum(e.kind == "connected" for e in mine)
    return SignalQuality(
        n_beats=n,
        artifact_pct=100.0 * n_art / n if n else 0.0,
        artifacts_by_type={
            k: v for k, v in by_type.items() if k != "normal" and (v or k != "unusable")
        },
        dropouts=int(firsts.shape[0]),
        dropout_s=float(np.clip(lost, 0.0, None).sum()),
        disconnects=sum(e.kind == "disconnected" for e in mine),
        reconnects=max(n_connected - 1, 0),
        no_band_pct=100.0 * float(hold[no_band].sum()) / total if total > 0 else 100.0,
        clock=p.clock or ClockEstimate.host(),
    )


def lag_uncertainty(a: ClockEstimate | None, b: ClockEstimate | None) -> tuple[float | None, str]:
    """How far two people's beat times may be shifted against each other by their clocks, s.

    Each person's beat times are on the server's clock up to their own clock's error bound
    (0 for a local strap, whose beats the server times itself); the relative shift of the two
    series, and so the error of a synchrony lag, is bounded by the sum of the two bounds.
    Returns ``(bound or None if a remote bound is unknown, note)``.

    Examples
    --------
    >>> lag_uncertainty(ClockEstimate.host(), ClockEstimate("remote", 0.2, 3.0, 0.015, 40))[0]
    0.015
    """
    clocks = [c or ClockEstimate.host() for c in (a, b)]
    if any(c.uncertainty_s is None for c in clocks):
        return None, (
            "a remote device's clock uncertainty is unknown (its client reported no round "
            "trip): the lag's uncertainty is not known"
        )
    total = float(sum(c.uncertainty_s or 0.0 for c in clocks))
    if all(c.source == "host" for c in clocks):
        return total, "both straps local: timed by the same clock (uncertainty 0)"
    return total, (
        "sum of the two clock uncertainties (remote: shortest ping round trip plus drift over "
        "the pings kept; local strap: 0)"
    )


def _stat(c: _sync.SurrogateComparison) -> SurrogateStat:
    return SurrogateStat(
        method=str(c.method),
        statistic=str(c.statistic),
        observed=float(c.observed),
        surrogate_mean=float(c.surrogate_mean),
        surrogate_sd=float(c.surrogate_sd),
        effect_size=float(c.effect_size),
        p_value=float(c.p_value),
        n_surrogates=int(c.n_surrogates),
    )


def synchrony_section(
    inputs: SessionInputs,
    spans: Sequence[PhaseSpan],
    derived: dict[str, Derivation],
) -> tuple[SynchronyReview | None, str]:
    """Therapist-patient synchrony per phase and for the session, with surrogates.

    The one definition, :func:`hrv.derive.dyad_synchrony`, on the (first) patient's and
    therapist's derivations: SUSY segment synchrony per phase and for the whole session against
    every pseudo pairing of segments (Tschacher & Meier 2020), and the windowed lagged
    cross-correlation (Boker et al. 2002) for the dominant lag. A synchrony value is never
    returned without its surrogate comparison. Returns ``(section, note)``; the section is None,
    with the reason in the note, without both consents or beats of both people, or when the
    recordings are too short.
    """
    if not inputs.synchrony_allowed:
        return None, (
            "Therapist-patient synchrony is omitted: not every participant has an active consent "
            "for synchrony analysis."
        )
    patient = next((p for p in inputs.participants if p.role == "patient"), None)
    therapist = next((p for p in inputs.participants if p.role == "therapist"), None)
    if patient is None or therapist is None:
        return None, "Therapist-patient synchrony needs beats of both a patient and a therapist."
    try:
        ds = dyad_synchrony(
            derived[patient.code],
            derived[therapist.code],
            [s.start_s for s in spans],
            [s.end_s for s in spans],
        )
    except SintoniaError as exc:
        return None, f"Therapist-patient synchrony is omitted: {exc}"
    rows: list[PhaseSynchrony] = []
    for span, seg, why in zip(spans, ds.phases, ds.phase_notes, strict=True):
        if seg is None:
            rows.append(PhaseSynchrony(span.phase_id, span.label, 0, None, None, None, why))
            continue
        rows.append(
            PhaseSynchrony(
                span.phase_id,
                span.label,
                int(np.count_nonzero(seg.valid)),
                _stat(seg.z),
                _stat(seg.z_patient_leads),
                _stat(seg.z_therapist_leads),
            )
        )
    w = ds.wlcc
    lag = None if w is None else _opt(float(w.profile_lag_s))
    at_edge = lag is not None and w is not None and abs(lag) >= float(w.max_lag_s) - 1e-9
    uncertainty, clock_note = lag_uncertainty(patient.clock, therapist.clock)
    within = lag is not None and uncertainty is not None and abs(lag) <= uncertainty
    review = SynchronyReview(
        patient=patient.code,
        therapist=therapist.code,
        smooth_s=SYNCHRONY_SMOOTH_S,
        phases=tuple(rows),
        wlcc=None if w is None else _stat(w.surrogate),
        wlcc_mean_peak_r=None if w is None else _opt(float(w.mean_peak_r)),
        wlcc_profile_lag_s=lag,
        leader=None if w is None else ("none" if at_edge or within else str(w.leader)),
        whole=None if ds.whole is None else _stat(ds.whole.z),
        n_segments=0 if ds.whole is None else int(np.count_nonzero(ds.whole.valid)),
        lag_at_edge=at_edge,
        lag_uncertainty_s=uncertainty,
        lag_within_uncertainty=within,
        clock_note=clock_note,
    )
    return review, (
        "Heart-rate synchrony on a 4 Hz grid smoothed over 10 s. Session and per phase: SUSY "
        "segment synchrony (30 s segments, lags up to 5 s) against every pseudo pairing of "
        "segments (Tschacher & Meier 2020); dominant lag: windowed lagged cross-correlation "
        "(60 s windows, lags up to 5 s, 30 s steps; Boker et al. 2002) against circular window "
        "shifts. p is one-sided (more synchrony than the surrogates); a p at its floor "
        "(1 / (surrogates + 1)) means only that no surrogate reached the observed value."
    )


# ------------------------------------------------------------------------------------ review


def review_session(inputs: SessionInputs, config: ReviewConfig | None = None) -> SessionReview:
    """Compute the review of one session.

    Parameters
    ----------
    inputs : SessionInputs
        Beats and events, times from the session start.
    config : ReviewConfig, optional

    Returns
    -------
    SessionReview

    Raises
    ------
    ReviewError
        If a participant's arrays do not have matching lengths.

    Notes
    -----
    * Everything per person comes from :func:`hrv.derive.derive`: traces and bands from the live
      engine and the arousal tracker replayed beat by beat (live equals batch); per-phase mean
      HR, RMSSD (successive pairs inside one gap-free segment), ln RMSSD, artifact % and LF/HF
      (longest gap-free stretch of at least 2 min; Task Force 1996) from
      :func:`hrv.derive.interval_stats` on the corrected beats selected by time.
    * Time in band: each beat's state held until the next beat (at most one longest beat).
    * Activation episodes: the tracker's ``above`` band, from the onset of the band change
      (threshold crossing) to the onset of the return to the usual range; recovery time is the
      time from the episode's peak index to that return.

    Examples
    --------
    >>> r = review_session(SessionInputs(session_id=1, label=None, started_at_s=None,
    ...                                  duration_s=60.0))
    >>> r.participants, [p.phase_id for p in r.phases]
    ((), ['welcome'])
    """
    cfg = config if config is not None else ReviewConfig()
    spans = (
        inputs.phases
        if inputs.phases is not None
        else phase_spans(inputs.phase_events, inputs.template, inputs.duration_s)
    )
    reviews: list[ParticipantReview] = []
    series_by: dict[str, ArousalSeries] = {}
    derived: dict[str, Derivation] = {}
    for p in inputs.participants:
        n = p.time_s.shape[0]
        if not (p.rr_ms.shape == (n,) and p.gap_before.shape == (n,)):
            raise ReviewError(
                f"participant {p.code}: time_s, rr_ms and gap_before must have one value per "
                f"beat, got {n}, {p.rr_ms.shape[0]} and {p.gap_before.shape[0]}"
            )
        d = _derive(p, cfg)
        assert d.trace is not None
        assert d.arousal is not None
        up, series = d.trace, d.arousal
        series_by[p.code] = series
        derived[p.code] = d
        trace = ParticipantTrace(
            code=p.code,
            role=p.role,
            time_s=series.time_s,
            arousal_index=series.index,
            state=series.state,
            confidence=series.confidence,
            mean_hr_bpm=np.where(up.valid_hr, up.mean_hr_bpm, np.nan),
            rmssd_ms=np.where(up.valid_rmssd, up.rmssd_ms, np.nan),
        )
        reviews.append(
            ParticipantReview(
                code=p.code,
                role=p.role,
                trace=trace,
                phases=_phase_rows(d, series, spans, cfg),
                episodes=_episodes(p.code, series, spans, inputs.duration_s),
                quality=_quality(p, d, series, inputs.device_events),
            )
        )
    patients = [r for r in reviews if r.role == "patient"]
    therapists = [r for r in reviews if r.role == "therapist"]
    co: list[CoActivation] = []
    for pat in patients:
        for th in therapists:
            co.extend(
                _co_activation(
                    pat.episodes, th.code, series_by[th.code], cfg.co_activation_window_s
                )
            )
    breathing: list[BreathingResponse] = []
    by_code = {p.code: p for p in inputs.participants}
    default_who = [p for p in inputs.participants if p.role == "patient"] or list(
        inputs.participants
    )
    # a breathing exercise: the therapist's marker, or an accepted cue that started the pacer
    starts = [(m.time_s, m.participant) for m in inputs.markers if m.type == "breathing_exercise"]
    starts += [
        (c.responded_at_s, None)
        for c in inputs.cues
        if c.response == "acknowledged"
        and c.pacer_breaths_per_min is not None
        and c.responded_at_s is not None
        and not any(abs(c.responded_at_s - t) < cfg.breathing_window_s for t, _ in starts)
    ]
    for t, code in sorted(starts, key=lambda x: x[0]):
        who = [by_code[code]] if code in by_code else default_who
        for p in who:
            breathing.append(_breathing(t, p, derived[p.code], cfg.breathing_window_s))
    sync, note = synchrony_section(inputs, spans, derived)
    notes = list(inputs.notes)
    for r in reviews:
        odd = [
            p
            for p in r.phases
            if p.irregular_pct is not None and p.irregular_pct > IRREGULAR_PCT_LIMIT
        ]
        if odd:
            worst = max(p.irregular_pct or 0.0 for p in odd)
            notes.append(
                f"{r.code} ({r.role}): the heart rhythm is irregular in "
                f"{', '.join(p.label for p in odd)} (up to {worst:.0f} % of successive beats "
                "differ by more than 20 % after correction, as with frequent ectopic beats); "
                "there, heart-rate variability does not describe autonomic regulation and the "
                "arousal index should not be read."
            )
    return SessionReview(
        session_id=inputs.session_id,
        label=inputs.label,
        started_at_s=inputs.started_at_s,
        duration_s=inputs.duration_s,
        phases=tuple(spans),
        markers=inputs.markers,
        cues=inputs.cues,
        participants=tuple(reviews),
        co_activation=tuple(co),
        breathing=tuple(breathing),
        usual_band=(cfg.arousal.enter_below, cfg.arousal.enter_above),
        synchrony=sync,
        synchrony_note=note,
        notes=tuple(notes),
    )
