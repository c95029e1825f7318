"""The live co-regulation panel's numbers: :func:`hrv.coregulation.coregulation`, as a message.

The live page and the post-session report share one definition of therapist-patient synchrony
(:mod:`hrv.synchrony`: heart rate on a 4 Hz grid smoothed over 10 s, windowed lagged
cross-correlation with 60 s windows, lags up to +-5 s, 30 s step, window-shift surrogates); the
live reading covers the last :data:`hrv.coregulation.COREGULATION_SPAN_S` seconds. This module
holds no maths of its own: it picks the span out of the hub's recent beats and turns the result
into a :class:`server.messages.SynchronyMessage`.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from hrv.coregulation import COREGULATION_SMOOTH_S, COREGULATION_SPAN_S, CoRegulation, coregulation
from hrv.errors import SintoniaError
from hrv.synchrony import WLCC_MAX_LAG_S, WLCC_STEP_S, WLCC_WINDOW_S
from server.messages import SynchronyMessage

__all__ = ["LIVE_SYNCHRONY_READ_S", "hidden_synchrony_message", "live_synchrony_message"]

#: How far back the hub's beats are read for one reading, s (span plus the smoothing margin).
LIVE_SYNCHRONY_READ_S: Final[float] = COREGULATION_SPAN_S + COREGULATION_SMOOTH_S + 5.0


def _opt(x: float) -> float | None:
    return x if math.isfinite(x) else None


def live_synchrony_message(
    session_id: int,
    patient_id: int,
    therapist_id: int,
    patient: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    therapist: tuple[NDArray[np.float64], NDArray[np.float64]] | None,
    now_s: float,
) -> SynchronyMessage:
    """The co-regulation message for the last minutes of both people's beats.

    Parameters
    ----------
    session_id, patient_id, therapist_id : int
    patient, therapist : (times_s, rr_ms) or None
        Recent beats (beat times on the shared clock, s; RR, ms); None when there are none.
    now_s : float
        The session clock, s (the reading ends at the earlier of the two last beats).

    Returns
    -------
    SynchronyMessage
        ``status`` ``"ok"`` with the reading, or ``"collecting"`` (null values) while the span
        does not yet hold enough windows for the surrogate comparison.
    """
    reading: CoRegulation | None = None
    end = now_s
    if patient is not None and therapist is not None and patient[0].size and therapist[0].size:
        end = float(min(patient[0][-1], therapist[0][-1]))
        try:
            reading = coregulation(patient[0], patient[1], therapist[0], therapist[1], end_s=end)
        except SintoniaError:
            reading = None
    status: Literal["ok", "collecting"] = "ok" if reading is not None else "collecting"
    if reading is None:
        return SynchronyMessage(
            session_id=session_id,
            patient_id=patient_id,
            therapist_id=therapist_id,
            time_s=end,
            window_s=COREGULATION_SPAN_S,
            correlation=None,
            lag_s=None,
            status=status,
            max_lag_s=WLCC_MAX_LAG_S,
            wlcc_window_s=WLCC_WINDOW_S,
            wlcc_step_s=WLCC_STEP_S,
        )
    return SynchronyMessage(
        session_id=session_id,
        patient_id=patient_id,
        therapist_id=therapist_id,
        time_s=reading.end_s,
        window_s=reading.end_s - reading.start_s,
        correlation=_opt(reading.r),
        lag_s=_opt(reading.lag_s),
        status=status,
        correlation_low=_opt(reading.r_low),
        correlation_high=_opt(reading.r_high),
        n_windows=reading.n_windows,
        chance_correlation=_opt(reading.chance_r),
        above_chance=reading.above_chance,
        p_value=reading.p_value,
        n_surrogates=reading.n_surrogates,
        lag_at_edge=reading.lag_at_edge,
        lead=reading.lead,
        max_lag_s=reading.max_lag_s,
        wlcc_window_s=reading.window_s,
        wlcc_step_s=reading.step_s,
    )


def hidden_synchrony_message(
    session_id: int, patient_id: int, therapist_id: int, time_s: float
) -> SynchronyMessage:
    """The message that blanks the co-regulation panel: one of the two is no longer shown."""
    return SynchronyMessage(
        session_id=session_id,
        patient_id=patient_id,
        therapist_id=therapist_id,
        time_s=time_s,
        window_s=0.0,
        correlation=None,
        lag_s=None,
        status="hidden",
    )
