"""Subscription queues: bounded, beats coalesced in order, control messages never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.live.subscription import Envelope, Subscription
from server.messages import BeatsMessage, MarkerMessage, ParticipantBeats


def beats(t0: float, n: int, pid: int = 1) -> BeatsMessage:
    times = [t0 + 0.8 * k for k in range(n)]
    part = ParticipantBeats(
        participant_id=pid,
        code=f"P{pid}",
        role="patient",
        time_s=times,
        rr_ms=[800.0] * n,
        hr_bpm=[75.0] * n,
        mean_hr_bpm=[None] * n,
        rmssd_ms=[None] * n,
        arousal_index=[None] * n,
        arousal_state=["calibrating"] * n,
        confidence=[1.0] * n,
        quality=[1.0] * n,
        artifact=[False] * n,
    )
    return BeatsMessage(session_id=1, sent_at_s=t0, participants=[part])


def marker(i: int) -> MarkerMessage:
    return MarkerMessage(session_id=1, marker_id=i, time_s=float(i), marker_type="note")


def drain(sub: Subscription) -> list[Any]:
    async def run() -> list[Any]:
        sub.end()
        return [m async for m in sub]

    return asyncio.run(run())


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.booleans(), min_size=1, max_size=120),
    max_messages=st.integers(2, 8),
    max_beats=st.integers(3, 40),
)
def test_bounded_coalescing_keeps_order_and_control(
    kinds: list[bool], max_messages: int, max_beats: int
) -> None:
    sub = Subscription(
        1, lambda s: None, max_messages=max_messages, max_beats_per_participant=max_beats
    )
    t = 0.0
    sent_times: list[float] = []
    markers = []
    for i, is_beats in enumerate(kinds):
        msg: BeatsMessage | MarkerMessage
        if is_beats:
            msg = beats(t, 3)
            sent_times.extend(msg.participants[0].time_s)
            t += 10.0
        else:
            msg = marker(i)
            markers.append(i)
        sub.put(Envelope(msg))
        if is_beats:  # after a beats message: within the bound, or nothing left to merge
            n_beats_msgs = sum(1 for e in sub._queue if e.type == "beats")
            assert len(sub._queue) <= max_messages or n_beats_msgs <= 1
    out = drain(sub)
    assert [m.marker_id for m in out if isinstance(m, MarkerMessage)] == markers
    got = [x for m in out if isinstance(m, BeatsMessage) for x in m.participants[0].time_s]
    dropped = sum(m.dropped_beats for m in out if isinstance(m, BeatsMessage))
    # what is delivered was sent, in order; what is not is counted as dropped
    assert set(got) <= set(sent_times)
    assert sorted(got) == got  # in order, none twice
    assert len(got) + dropped == len(sent_times)
    assert dropped == sub.dropped_beats


def test_redact_removes_a_participant_everywhere() -> None:
    sub = Subscription(1, lambda s: None)
    two = beats(0.0, 3, pid=1).model_copy(
        update={"participants": [*beats(0.0, 3, 1).participants, *beats(0.0, 3, 2).participants]}
    )
    sub.put(Envelope(two))
    sub.put(Envelope(beats(5.0, 2, pid=2)))
    sub.put(Envelope(marker(1)))
    sub.redact(2)
    out = drain(sub)
    assert [type(m).__name__ for m in out] == ["BeatsMessage", "MarkerMessage"]
    assert [p.participant_id for p in out[0].participants] == [1]


def test_hard_limit_closes_and_notifies() -> None:
    closed: list[Subscription] = []
    sub = Subscription(1, closed.append, max_messages=2, hard_limit=5)
    for i in range(6):
        sub.put(Envelope(marker(i)))
    assert sub.closed
    assert closed == [sub]
    assert drain(sub) == []
