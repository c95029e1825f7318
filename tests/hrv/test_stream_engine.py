"""The streaming engine: look-ahead and flush, many participants, quality, memory, coherence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrv.artifacts import BeatClass, detect_artifacts
from hrv.coherence import coherence_ratio
from hrv.errors import InvalidRRError, SintoniaError
from hrv.stream import (
    UPDATE_FIELDS,
    HRVStream,
    MultiStreamEngine,
    StreamConfig,
    StreamConfigError,
    StreamUpdates,
)
from hrv.synthetic import inject_artifacts, synthetic_rr


def _run(stream: HRVStream, rr: np.ndarray, t: np.ndarray, **kw: object) -> StreamUpdates:
    return StreamUpdates.concatenate([stream.push(rr, t, **kw), stream.flush()])  # type: ignore[arg-type]


def _clean(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rr = synthetic_rr(n, seed=seed)
    return rr, np.cumsum(rr) / 1000.0


# ------------------------------------------------------------------ look-ahead, delay, flush


def test_each_beat_leaves_after_its_lookahead_with_the_delay_on_the_update() -> None:
    rr, t = _clean(12)
    s = HRVStream()  # look-ahead 2
    out = [s.push(rr[i : i + 1], t[i : i + 1]) for i in range(12)]
    assert [len(u) for u in out] == [0, 0] + [1] * 10
    for i, u in enumerate(out[2:], start=2):
        assert u.beat_index.tolist() == [i - 2]
        assert u.lookahead_beats.tolist() == [2]
        assert u.delay_s[0] == pytest.approx(t[i] - t[i - 2], abs=1e-12)
    tail = s.flush()
    assert tail.beat_index.tolist() == [10, 11]
    assert tail.lookahead_beats.tolist() == [1, 0]
    assert tail.delay_s.tolist() == pytest.approx([t[11] - t[10], 0.0], abs=1e-12)
    assert len(s.flush()) == 0  # nothing left


def test_flush_of_some_participants_leaves_the_others_waiting() -> None:
    eng = MultiStreamEngine(2)
    eng.push([0, 1, 0, 1], [800.0, 700.0, 810.0, 710.0], [0.8, 0.7, 1.61, 1.41])
    out = eng.flush([1])
    assert out.participant.tolist() == [1, 1]
    assert out.beat_index.tolist() == [0, 1]
    assert (eng.pending(0), eng.pending(1)) == (2, 0)


@pytest.mark.parametrize("lookahead", [1, 3])
def test_lookahead_is_configurable(lookahead: int) -> None:
    rr, t = _clean(10)
    s = HRVStream(StreamConfig(lookahead_beats=lookahead))
    assert len(s.push(rr, t)) == 10 - lookahead
    assert s.engine.pending(0) == lookahead


def test_gap_before_flushes_the_waiting_beats_and_counts_the_missing_ones() -> None:
    rr, t = _clean(60, seed=2)
    t = t.copy()
    t[30:] += 4.0  # 4 s without beats (a dropout), then the beat clock was re-anchored
    s = HRVStream()
    a = s.push(rr[:30], t[:30])
    b = s.push(rr[30:], t[30:], gap_before=True)
    u = StreamUpdates.concatenate([a, b, s.flush()])
    assert u.beat_index.tolist() == list(range(60))
    assert u.lookahead_beats[27:30].tolist() == [2, 1, 0]  # flushed with what there was
    assert u.lookahead_beats[30:58].tolist() == [2] * 28
    # 4 s at about 860 ms per beat: round(4000 / medRR) = 5 beats missing, kept in the window
    expected = round(4000.0 / float(np.median(rr[22:33])))
    assert u.missing_beats[30] == expected
    assert (u.missing_beats[30:] == expected).all()
    assert u.missing_beats[:30].sum() == 0
    assert u.quality[29] == 1.0
    n = u.n_rmssd[30]
    assert u.quality[30] == pytest.approx(n / (n + expected))


# ------------------------------------------------------------------ many participants


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_part=st.integers(1, 7),
    n_beats=st.integers(1, 150),
    array_path=st.booleans(),
)
def test_multi_engine_equals_independent_streams(
    seed: int, n_part: int, n_beats: int, array_path: bool
) -> None:
    """Randomly interleaved beats of N participants give what N separate streams give."""
    rng = np.random.default_rng(seed)
    series = []
    for p in range(n_part):
        rr = rng.uniform(450.0, 1300.0, n_beats) if p % 2 else synthetic_rr(n_beats, seed=p)
        series.append((rr, np.cumsum(rr) / 1000.0))
    # arrival order: random interleaving that keeps each participant's order
    owner = rng.permutation(np.repeat(np.arange(n_part), n_beats))
    pos = np.zeros(n_part, dtype=int)
    seq = []
    for p in owner:
        seq.append((p, pos[p]))
        pos[p] += 1
    eng = MultiStreamEngine(n_part)
    if array_path:
        eng._scalar_max_rows = 0  # every round on the array path
    parts = []
    cuts = np.sort(rng.choice(len(seq) + 1, size=min(len(seq), 10), replace=False))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(seq)], strict=True):
        chunk = seq[a:b]
        parts.append(
            eng.push(
                [p for p, _ in chunk],
                [series[p][0][i] for p, i in chunk],
                [series[p][1][i] for p, i in chunk],
            )
        )
    parts.append(eng.flush())
    together = StreamUpdates.concatenate(parts)
    for p in range(n_part):
        alone = _run(HRVStream(), *series[p])
        mine = together.select(np.flatnonzero(together.participant == p))
        mine = mine.select(np.argsort(mine.beat_index, kind="stable"))
        for f in UPDATE_FIELDS:
            if f != "participant":
                # bitwise: the array path does the scalar path's operations in the same order
                np.testing.assert_array_equal(getattr(mine, f), getattr(alone, f), err_msg=f)


def test_add_participant_and_reset() -> None:
    rr, t = _clean(40)
    eng = MultiStreamEngine(0)
    assert [eng.add_participant() for _ in range(5)] == [0, 1, 2, 3, 4]
    first = eng.push(np.full(40, 3), rr, t)
    eng.reset(3)
    again = eng.push(np.full(40, 3), rr, t)  # same beats again: same answers from a clean slate
    for f in UPDATE_FIELDS:
        np.testing.assert_array_equal(getattr(first, f), getattr(again, f), err_msg=f)
    with pytest.raises(StreamConfigError, match="participant indices"):
        eng.push([5], [800.0], [1.0])


def test_time_since_last_beat_shows_a_silent_dropout() -> None:
    eng = MultiStreamEngine(3)
    eng.push([0, 1, 0], [800.0, 900.0, 800.0], [0.8, 0.9, 1.6])
    assert eng.time_since_last_beat(5.0).tolist() == pytest.approx([3.4, 4.1, np.inf])


def test_memory_is_bounded_by_the_windows_not_the_session() -> None:
    eng = MultiStreamEngine(3)

    def nbytes() -> int:
        return sum(v.nbytes for v in vars(eng).values() if isinstance(v, np.ndarray))

    before = nbytes()
    rr, t = _clean(3000)
    for p in range(3):
        eng.push(np.full(3000, p), rr, t)
    assert nbytes() == before
    # the ring holds the longest window (64 s of coherence) at 240 bpm: 64 s / 250 ms + 1
    assert StreamConfig().ring_capacity == 257


# ------------------------------------------------------------------ detector, quality


def test_causal_detector_finds_injected_artifacts_like_the_batch_detector() -> None:
    """Against ground truth: the causal variant (2 beats of look-ahead) nearly matches batch."""
    hits = truth_n = false_pos = batch_hits = n_clean = 0
    for seed in range(3):
        clean = synthetic_rr(2500, seed=seed)
        rr, truth = inject_artifacts(clean, seed=seed, n_per_type=8)
        u = _run(HRVStream(), rr, np.cumsum(rr) / 1000.0)
        flagged = u.artifact != BeatClass.NORMAL
        bad = truth.classes != BeatClass.NORMAL
        # an event counts as found if any beat of it (or right after it) is flagged
        for start, length in zip(truth.event_start, truth.event_length, strict=True):
            truth_n += 1
            hits += bool(flagged[start : start + length + 1].any())
        batch = detect_artifacts(rr).classes != BeatClass.NORMAL
        batch_hits += int((batch & bad).sum())
        n_clean += int((~bad).sum())
        near = np.convolve(bad, np.ones(5), mode="same") > 0  # neighbours of an artifact
        false_pos += int((flagged & ~near).sum())
    # measured: 120/120 events found, 4 flags away from artifacts in 7,500 clean beats
    assert hits / truth_n >= 0.95
    assert false_pos / n_clean < 0.005
    assert batch_hits > 0  # the batch reference ran on the same data


def test_corrected_rr_replaces_artifacts_only() -> None:
    rr = _clean(300, seed=4)[0].copy()
    rr[150] *= 2.0  # a missed beat
    rr_in = rr.copy()
    u = _run(HRVStream(), rr, np.cumsum(rr) / 1000.0)
    np.testing.assert_array_equal(rr, rr_in)  # the caller's array is not touched
    np.testing.assert_array_equal(u.rr_ms, rr)  # raw RR reported as received
    assert u.artifact[150] == BeatClass.MISSED
    normal = u.artifact == BeatClass.NORMAL
    np.testing.assert_array_equal(u.rr_corrected_ms[normal], rr[normal])
    assert abs(u.rr_corrected_ms[150] - np.median(rr[140:153])) < 60.0  # the local median
    np.testing.assert_allclose(u.hr_bpm, 60_000.0 / u.rr_corrected_ms)


def test_quality_artifact_fraction_and_contact() -> None:
    rr, t = _clean(200, seed=5)
    contact = np.ones(200, dtype=bool)
    contact[100:110] = False  # ten beats without skin contact
    s = HRVStream()
    u = StreamUpdates.concatenate([s.push(rr, t, contact=contact), s.flush()])
    assert set(u.contact[100:110].tolist()) == {0}
    assert set(u.contact[:100].tolist()) == {1}
    k = 115
    in_window = (u.time_s > u.time_s[k] - 60.0) & (np.arange(200) <= k)
    art = (u.artifact != 0) & in_window
    bad = art | ((u.contact == 0) & in_window)
    expected = (in_window.sum() - bad.sum()) / (in_window.sum() + u.missing_beats[k])
    assert u.quality[k] == pytest.approx(expected)
    assert u.quality[k] < u.quality[90]
    # unknown contact is not held against the signal
    v = _run(HRVStream(), rr, t)
    assert set(v.contact.tolist()) == {-1}


def test_too_many_artifacts_flag_the_window_not_valid() -> None:
    rng = np.random.default_rng(0)
    rr = 800.0 + rng.normal(0.0, 5.0, 400)
    rr[200:260:2] = 400.0  # every other beat short for a minute
    u = _run(HRVStream(), rr, np.cumsum(rr) / 1000.0)
    assert u.valid[150]
    late = u.artifact_fraction > 0.2
    assert late.any()
    assert not u.valid[late].any()


def test_not_enough_beats_is_a_flag_not_a_silent_nan() -> None:
    rr, t = _clean(30)
    u = _run(HRVStream(StreamConfig(min_beats_rmssd=20)), rr, t)
    assert not u.valid_rmssd[:19].any()
    assert np.isnan(u.rmssd_ms[:19]).all()
    assert u.valid_rmssd[19:].all()
    assert np.isfinite(u.rmssd_ms[19:]).all()
    assert u.n_rmssd.tolist() == list(range(1, 31))


# ------------------------------------------------------------------ coherence


def test_paced_breathing_coherence_every_5_s_equals_batch() -> None:
    rr = synthetic_rr(
        duration_s=180.0, seed=3, breathing_rate_hz=0.1, rsa_amplitude_ms=80.0, pink_noise_ms=10.0
    )
    t = np.cumsum(rr) / 1000.0
    cfg = StreamConfig(coherence_every_s=5.0)
    u = _run(HRVStream(cfg), rr, t)
    fresh = np.flatnonzero(u.coherence_fresh)
    assert fresh.size >= 20
    gaps = np.diff(u.time_s[fresh])
    assert gaps.min() >= 5.0
    assert gaps.max() < 5.0 + 2.0  # the first beat at or after each 5 s mark
    assert np.isnan(u.coherence_ratio[~u.coherence_fresh]).all()
    for k in fresh[::5]:
        w = u.rr_corrected_ms[: k + 1][u.time_s[: k + 1] > u.time_s[k] - 64.0]
        ref = coherence_ratio(w, window_s=64.0)
        assert u.coherence_ratio[k] == pytest.approx(ref.ratio, rel=1e-12)
        assert u.breathing_rate_bpm[k] == pytest.approx(ref.breathing_rate_bpm, rel=1e-12)
    late = fresh[u.time_s[fresh] > 70.0]
    assert np.median(u.breathing_rate_bpm[late]) == pytest.approx(6.0, abs=0.5)
    assert np.median(u.coherence_ratio[late]) > 1.0  # a coherent rhythm


@pytest.mark.parametrize("array_path", [False, True])
def test_coherence_turned_on_for_one_participant(array_path: bool) -> None:
    rr = synthetic_rr(duration_s=100.0, seed=8, breathing_rate_hz=0.1, rsa_amplitude_ms=60.0)
    t = np.cumsum(rr) / 1000.0
    eng = MultiStreamEngine(3)
    if array_path:
        eng._scalar_max_rows = 0
    eng.set_coherence(1, 5.0)
    n = rr.size
    u = StreamUpdates.concatenate(
        [eng.push(np.tile([0, 1, 2], n), np.repeat(rr, 3), np.repeat(t, 3)), eng.flush()]
    )
    assert set(u.participant[u.coherence_fresh].tolist()) == {1}
    one = u.select(np.flatnonzero(u.participant == 1))
    ref = _run(HRVStream(StreamConfig(coherence_every_s=5.0)), rr, t)
    np.testing.assert_array_equal(one.coherence_fresh, ref.coherence_fresh)
    np.testing.assert_array_equal(one.coherence_ratio, ref.coherence_ratio)
    eng.set_coherence(1, None)
    assert eng.coherence_period(1) is None
    with pytest.raises(StreamConfigError, match="every_s must be a positive number"):
        eng.set_coherence(0, -1.0)


def test_coherence_is_off_by_default() -> None:
    rr, t = _clean(200)
    u = _run(HRVStream(), rr, t)
    assert not u.coherence_fresh.any()


# ------------------------------------------------------------------ errors, formats


def test_errors_say_what_was_expected() -> None:
    s = HRVStream()
    s.push([800.0, 800.0], [10.0, 10.8])
    with pytest.raises(InvalidRRError, match="must not go back"):
        s.push([800.0], [10.5])
    with pytest.raises(InvalidRRError, match="finite positive"):
        s.push([0.0], [12.0])
    with pytest.raises(InvalidRRError, match="one value per beat"):
        s.push([800.0, 800.0], [12.0])
    with pytest.raises(StreamConfigError, match="lookahead_beats must be 1, 2 or 3"):
        StreamConfig(lookahead_beats=7)
    with pytest.raises(SintoniaError, match="rmssd_window_s must be a positive number"):
        StreamConfig(rmssd_window_s=0.0)


def test_updates_as_records() -> None:
    rr, t = _clean(20)
    u = _run(HRVStream(), rr, t)
    rec = u.to_records()
    assert rec.dtype.names == UPDATE_FIELDS
    np.testing.assert_array_equal(rec["rmssd_ms"], u.rmssd_ms)
    assert rec["artifact"].dtype == np.uint8
    assert len(StreamUpdates.concatenate([])) == 0
