"""Breathing-rate estimate against the simulator's known breathing rate (issue 13, item 3).

The simulator (:mod:`sensor.simulator`) drives the respiratory sinus arrhythmia from a known
breathing-rate schedule and adds a 0.1 Hz Mayer wave and 1/f variability; under arousal the RSA
shrinks (vagal withdrawal), so the Mayer wave can become the highest peak of the spectrum. The
default first session has all three periods the live page meets: calm (14/min), a stress
episode (18/min, arousal 0.8) and paced breathing (6/min). The estimate runs where the live
engine runs it: every 5 s on the last 64 s of beats, through :class:`hrv.stream.HRVStream`.

Before this fix the arg-max estimator was wrong by more than 2/min in 58 % of stress windows
(median error 11.7/min: it reported the Mayer wave, about 6/min); measured after it, over seeds
0-5: median error 0.4/min in calm and stress, 0.2/min when paced, no window wrong by 2/min.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from hrv.stream import HRVStream, StreamConfig
from sensor.simulator import ParticipantProfile, Scenario, Schedule, simulate_rr

#: (start, end) of each period in the first session, s; the first 64 s after a change of
#: breathing rate are left out (the window still mixes the two rates).
PERIODS: dict[str, tuple[float, float]] = {
    "calm": (64.0 + 30.0, 600.0),
    "stress": (12 * 60.0 + 64.0, 23 * 60.0),
    "paced": (45.5 * 60.0 + 64.0, 50 * 60.0),
}


def _live_estimates(
    rr_ms: NDArray[np.float64], t_s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(time, breathing rate) of every 5 s coherence refresh of the streaming engine."""
    stream = HRVStream(StreamConfig(coherence_every_s=5.0))
    u = stream.push(rr_ms, t_s)
    tail = stream.flush()
    times = np.concatenate([u.time_s[u.coherence_fresh], tail.time_s[tail.coherence_fresh]])
    rates = np.concatenate(
        [u.breathing_rate_bpm[u.coherence_fresh], tail.breathing_rate_bpm[tail.coherence_fresh]]
    )
    return times, rates


def _truth_per_min(sim_times: NDArray[np.float64], sim_hz: NDArray[np.float64], t: float) -> float:
    """Mean true breathing rate over the 64 s window ending at ``t``, breaths/min."""
    in_window = (sim_times > t - 64.0) & (sim_times <= t)
    return float(60.0 * sim_hz[in_window].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_breathing_rate_error_against_the_simulator_truth(seed: int) -> None:
    sim = simulate_rr(Scenario.first_session(), "patient", seed=seed)
    times, rates = _live_estimates(sim.clean_rr_ms, sim.clean_beat_times_s)
    for name, (start, end) in PERIODS.items():
        sel = (times >= start) & (times < end)
        truth = np.array(
            [_truth_per_min(sim.truth_times_s, sim.truth_breathing_hz, t) for t in times[sel]]
        )
        est = rates[sel]
        shown = ~np.isnan(est)
        err = np.abs(est[shown] - truth[shown])
        # most windows get a number: the RSA is clear in all three periods
        assert shown.mean() > 0.8, (name, shown.mean())
        # the 64 s window, the 0.12/min FFT grid and the simulator's 5 % breath-to-breath jitter
        # put a correct estimate within about 1/min; the Mayer wave is 8-12/min away
        assert np.median(err) < 0.8, (name, np.median(err))
        assert np.max(err) < 2.0, (name, np.max(err), est[shown][np.argmax(err)])


def test_without_respiratory_arrhythmia_the_rate_is_mostly_not_shown() -> None:
    # no RSA and no Mayer wave: 1/f variability only, so any rate would be a guess
    person = ParticipantProfile(
        rsa_amplitude=0.0, mayer_amplitude=0.0, breathing_bpm=Schedule.constant(16.0)
    )
    sim = simulate_rr(Scenario(600.0, person, person, None), "patient", seed=4)
    times, rates = _live_estimates(sim.clean_rr_ms, sim.clean_beat_times_s)
    late = times > 70.0
    assert late.sum() > 90
    # 1/f variability alone stays below the 0.5 confidence in most windows
    assert np.isnan(rates[late]).mean() > 0.8
