"""Tests of hrv.synthetic: the RR generator, artifact injection and the scoring helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from hrv.artifacts import BeatClass
from hrv.errors import InvalidRRError
from hrv.synthetic import (
    ARTIFACT_TYPES,
    inject_artifacts,
    rmssd_error_pct,
    score_detection,
    synthetic_rr,
    windowed_rmssd,
)


def test_synthetic_rr_is_deterministic_and_plausible() -> None:
    a = synthetic_rr(5000, seed=1)
    np.testing.assert_array_equal(a, synthetic_rr(5000, seed=1))
    assert not np.array_equal(a, synthetic_rr(5000, seed=2))
    assert a.dtype == np.float64
    assert a.shape == (5000,)
    assert np.all((a >= 330.0) & (a <= 1800.0))
    # 70 bpm by default; resting-adult RMSSD and SDNN (Shaffer & Ginsberg 2017: RMSSD ~20-60 ms).
    assert 60_000.0 / a.mean() == pytest.approx(70.0, rel=0.03)
    rmssd = float(np.sqrt(np.mean(np.diff(a) ** 2)))
    assert 15.0 < rmssd < 60.0
    assert 25.0 < float(np.std(a)) < 90.0


def test_synthetic_rr_duration() -> None:
    rr = synthetic_rr(duration_s=600.0, seed=3, mean_hr_bpm=90.0)
    assert 600_000.0 - 1200.0 < rr.sum() <= 600_000.0
    with pytest.raises(InvalidRRError):
        synthetic_rr(10, duration_s=10.0, seed=0)
    with pytest.raises(InvalidRRError):
        synthetic_rr(seed=0)


def test_synthetic_rr_spectrum_has_rsa_and_mayer_peaks() -> None:
    """The HF peak sits at the breathing rate and the LF peak at the Mayer wave (0.1 Hz)."""
    rr = synthetic_rr(duration_s=3600.0, seed=4, breathing_rate_hz=0.3, pink_noise_ms=5.0)
    t = np.cumsum(rr) / 1000.0
    grid = np.arange(t[0], t[-1], 0.25)
    x = np.interp(grid, t, rr)
    f, p = signal.welch(x - x.mean(), fs=4.0, nperseg=1200)
    hf = (f >= 0.15) & (f <= 0.4)
    lf = (f >= 0.04) & (f < 0.15)
    # 1/300 Hz resolution; the breathing rate wanders by +-10 %, hence the tolerance.
    assert f[hf][np.argmax(p[hf])] == pytest.approx(0.3, abs=0.03)
    assert f[lf][np.argmax(p[lf])] == pytest.approx(0.1, abs=0.01)


def test_inject_every_type_with_consistent_truth() -> None:
    clean = synthetic_rr(3000, seed=5)
    bad, truth = inject_artifacts(clean, seed=5, n_per_type=8)
    assert bad.shape == truth.classes.shape == truth.clean_index.shape
    assert bad.shape[0] == clean.shape[0]  # 8 missed (-1 each) and 8 extra (+1 each)
    # Ectopic, missed and extra artifacts keep the duration (only detections move).
    timed, _ = inject_artifacts(clean, seed=5, n_per_type=8, types=("ectopic", "missed", "extra"))
    assert timed.sum() == pytest.approx(clean.sum(), rel=1e-12)
    for name in ARTIFACT_TYPES:
        cls = BeatClass[name.upper()]
        assert np.count_nonzero(truth.event_class == cls) == 8
    counts = np.bincount(truth.classes, minlength=6)
    assert counts[BeatClass.ECTOPIC] == 16
    assert counts[BeatClass.EXTRA] == 16
    assert counts[BeatClass.MISSED] == counts[BeatClass.LONG] == counts[BeatClass.SHORT] == 8
    # Events are at least 20 beats apart and cover exactly the non-normal beats.
    assert np.all(np.diff(truth.event_start) >= 18)
    mask = np.zeros(bad.shape[0], dtype=bool)
    for s, n in zip(truth.event_start, truth.event_length, strict=True):
        mask[s : s + n] = True
    np.testing.assert_array_equal(mask, truth.classes != BeatClass.NORMAL)


def test_inject_at_given_positions_with_exact_values() -> None:
    clean = synthetic_rr(100, seed=6)
    pos = {"ectopic": [10], "missed": [30], "extra": [50], "long": [70], "short": [90]}
    bad, truth = inject_artifacts(clean, seed=6, positions=pos)
    # ectopic: short-long pair keeping the pair's duration, prematurity 20-45 %
    assert bad[10] + bad[11] == pytest.approx(clean[10] + clean[11])
    assert 0.2 <= 1 - bad[10] / clean[10] <= 0.45
    # missed: two beats in one (the output is shifted by -1 after it)
    assert bad[30] == pytest.approx(clean[30] + clean[31])
    # extra: one beat split in two (output index 49 + 1 = 50 after the missed beat)
    assert bad[49] + bad[50] == pytest.approx(clean[50])
    # ... and the extra beat shifts it back: clean beat 70 is output beat 70 again.
    assert 0.25 <= bad[70] / clean[70] - 1 <= 0.45
    assert 0.25 <= 1 - bad[90] / clean[90] <= 0.45
    assert truth.event_start.tolist() == [10, 30, 49, 70, 90]
    assert truth.clean_index[49] == truth.clean_index[50] == 50


def test_inject_rejects_bad_requests() -> None:
    clean = synthetic_rr(100, seed=7)
    with pytest.raises(InvalidRRError, match="overlap"):
        inject_artifacts(clean, seed=0, positions={"ectopic": [10], "long": [11]})
    with pytest.raises(InvalidRRError, match="unknown"):
        inject_artifacts(clean, seed=0, types=("bogus",))
    with pytest.raises(InvalidRRError, match="cannot place"):
        inject_artifacts(clean, seed=0, n_per_type=10)
    with pytest.raises(InvalidRRError, match="inside"):
        inject_artifacts(clean, seed=0, positions={"missed": [99]})


def test_score_detection_counts() -> None:
    clean = synthetic_rr(400, seed=8)
    _bad, truth = inject_artifacts(clean, seed=8, n_per_type=1)
    perfect = score_detection(truth, truth.classes)
    assert all(v == 1.0 for v in perfect.sensitivity.values())
    assert perfect.false_positives == 0
    guess = truth.classes.copy()
    guess[truth.event_start[0]] = BeatClass.NORMAL  # miss one event
    guess[0] = BeatClass.LONG  # one false positive
    scored = score_detection(truth, guess)
    missed_type = BeatClass(int(truth.event_class[0])).name.lower()
    assert scored.sensitivity[missed_type] == 0.0
    assert scored.false_positives == 1
    assert scored.false_positive_pct == pytest.approx(100.0 / scored.n_normal)


def test_windowed_rmssd_matches_direct_computation() -> None:
    rr = synthetic_rr(duration_s=1000.0, seed=9)
    got = windowed_rmssd(rr, 300.0)
    t = np.cumsum(rr) / 1000.0
    assert got.shape == (3,)
    for w in range(3):
        seg = rr[(t >= 300.0 * w) & (t < 300.0 * (w + 1))]
        assert got[w] == pytest.approx(np.sqrt(np.mean(np.diff(seg) ** 2)), rel=1e-12)
    assert rmssd_error_pct(rr, rr).tolist() == [0.0, 0.0, 0.0]
    other = synthetic_rr(duration_s=1000.0, seed=10)
    ref = windowed_rmssd(other, 300.0)
    expected = 100.0 * np.abs(ref - got) / got
    np.testing.assert_allclose(rmssd_error_pct(rr, other), expected[: min(3, ref.shape[0])])
