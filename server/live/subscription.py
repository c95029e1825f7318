"""A subscriber's bounded queue: beat batches coalesce when it falls behind, control never drops.

The hub puts every message of a session into each subscriber's :class:`Subscription` without
waiting (``put`` never blocks), so a slow or dead client cannot slow storage, the engine or the
other clients. The queue holds at most ``max_messages`` messages; when a ``beats`` message arrives
at a full queue, the oldest queued ``beats`` messages are merged, two at a time, until it fits
or only one is left (per participant, arrays joined end to end), and a merged message keeps at
most ``max_beats_per_participant`` beats per participant, the oldest leaving first (counted in
``dropped_beats``). Control messages are
never dropped or merged; a client so far behind that ``hard_limit`` control messages wait for it
is closed (it reconnects and gets the history).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from server.messages import BeatsMessage, ParticipantBeats

__all__ = ["Envelope", "Fanout", "Subscription"]

_log = logging.getLogger(__name__)

#: Messages a subscriber may have waiting before beat batches are coalesced.
DEFAULT_MAX_MESSAGES: Final[int] = 32
#: Beats per participant kept in one coalesced message (about 20 min at 75 bpm).
DEFAULT_MAX_BEATS_PER_PARTICIPANT: Final[int] = 1500
#: Waiting messages beyond which a subscriber is closed as dead.
DEFAULT_HARD_LIMIT: Final[int] = 1000

_ARRAY_FIELDS: Final[tuple[str, ...]] = (
    "time_s",
    "rr_ms",
    "hr_bpm",
    "mean_hr_bpm",
    "rmssd_ms",
    "arousal_index",
    "arousal_state",
    "confidence",
    "quality",
    "artifact",
)


class Envelope:
    """A message and its JSON text, serialised once however many subscribers send it."""

    __slots__ = ("_text", "message")

    def __init__(self, message: Any) -> None:
        self.message = message
        self._text: str | None = None

    @property
    def type(self) -> str:
        """The message's ``type``."""
        return str(self.message.type)

    @property
    def text(self) -> str:
        """The JSON text of the message."""
        if self._text is None:
            self._text = self.message.model_dump_json()
        return self._text


def _merge_beats(a: BeatsMessage, b: BeatsMessage, max_beats: int) -> BeatsMessage:
    """``a`` then ``b`` as one message, at most ``max_beats`` beats per participant."""
    dropped = a.dropped_beats + b.dropped_beats
    order: list[int] = []
    parts: dict[int, list[ParticipantBeats]] = {}
    for p in (*a.participants, *b.participants):
        if p.participant_id not in parts:
            order.append(p.participant_id)
            parts[p.participant_id] = []
        parts[p.participant_id].append(p)
    merged: list[ParticipantBeats] = []
    for pid in order:
        chunks = parts[pid]
        last = chunks[-1]
        values: dict[str, Any] = {
            f: [v for c in chunks for v in getattr(c, f)] for f in _ARRAY_FIELDS
        }
        excess = len(values["time_s"]) - max_beats
        if excess > 0:
            dropped += excess
            values = {f: v[excess:] for f, v in values.items()}
        merged.append(last.model_copy(update=values))
    return BeatsMessage(
        session_id=b.session_id, sent_at_s=b.sent_at_s, participants=merged, dropped_beats=dropped
    )


class Subscription:
    """The messages of one session for one client, as an async iterator of envelopes.

    Parameters
    ----------
    session_id : int
    on_close : callable
        Called once when the subscription closes (the hub forgets it).
    max_messages, max_beats_per_participant, hard_limit : int
        Bounds (see the module documentation).

    Examples
    --------
    >>> sub = Subscription(1, lambda s: None)
    >>> sub.put(Envelope(BeatsMessage(session_id=1, sent_at_s=0.0, participants=[])))
    >>> sub.pending
    1
    """

    def __init__(
        self,
        session_id: int,
        on_close: Callable[[Subscription], None],
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_beats_per_participant: int = DEFAULT_MAX_BEATS_PER_PARTICIPANT,
        hard_limit: int = DEFAULT_HARD_LIMIT,
    ) -> None:
        self.session_id = session_id
        self._on_close = on_close
        self._queue: deque[Envelope] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._ending = False
        self.max_messages = max_messages
        self.max_beats_per_participant = max_beats_per_participant
        self.hard_limit = hard_limit
        #: Beat batches merged into others because the client was behind.
        self.coalesced = 0
        #: Beats left out for this client (display only; storage never drops).
        self.dropped_beats = 0
        #: Messages put into the queue.
        self.delivered = 0

    # ------------------------------------------------------------------ producer side
    @property
    def pending(self) -> int:
        """Messages waiting to be read."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        """Whether the subscription is closed (nothing more will be queued)."""
        return self._closed or self._ending

    def put(self, envelope: Envelope) -> None:
        """Queue a message without waiting (see the module documentation for the bounds)."""
        if self.closed:
            return
        self.delivered += 1
        self._queue.append(envelope)
        if envelope.type == "beats":
            while len(self._queue) > self.max_messages and self._coalesce():
                pass
        if len(self._queue) > self.hard_limit:
            _log.warning(
                "subscriber of session %d is %d messages behind; closing it",
                self.session_id,
                len(self._queue),
            )
            self.close()
            return
        self._ready.set()

    def _coalesce(self) -> bool:
        """Merge the two oldest queued beat batches; False if there are not two."""
        beats = [i for i, e in enumerate(self._queue) if e.type == "beats"]
        if len(beats) < 2:
            return False
        i, j = beats[0], beats[1]
        a, b = self._queue[i].message, self._queue[j].message
        merged = _merge_beats(a, b, self.max_beats_per_participant)
        self.dropped_beats += merged.dropped_beats - a.dropped_beats - b.dropped_beats
        self.coalesced += 1
        # The merged batch takes the later position so that control messages between keep
        # their order relative to the newest beats they may refer to.
        self._queue[j] = Envelope(merged)
        del self._queue[i]
        return True

    def redact(self, participant_id: int) -> None:
        """Remove a participant's beats and device messages from everything still queued."""
        kept: deque[Envelope] = deque()
        for env in self._queue:
            msg = env.message
            if env.type == "beats":
                ps = [p for p in msg.participants if p.participant_id != participant_id]
                if len(ps) != len(msg.participants):
                    if not ps:
                        continue
                    env = Envelope(msg.model_copy(update={"participants": ps}))
            elif env.type in ("device", "coherence") and msg.participant_id == participant_id:
                continue
            kept.append(env)
        self._queue = kept

    def end(self) -> None:
        """No more messages: the iterator ends once the queued ones are read."""
        self._ending = True
        self._ready.set()

    def close(self) -> None:
        """Stop at once (queued messages are discarded) and tell the hub."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._ready.set()
        self._on_close(self)

    # ------------------------------------------------------------------ consumer side
    async def get(self) -> Envelope | None:
        """The next message, waiting for one; None once the subscription is over."""
        while True:
            if self._closed:
                return None
            if self._queue:
                return self._queue.popleft()
            if self._ending:
                self.close()
                return None
            self._ready.clear()
            await self._ready.wait()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while (env := await self.get()) is not None:
            yield env.message

    async def envelopes(self) -> AsyncIterator[Envelope]:
        """The messages with their JSON text (what the WebSocket route sends)."""
        while (env := await self.get()) is not None:
            yield env


class Fanout:
    """The subscriptions of every session: a message put once reaches each of them.

    Examples
    --------
    >>> fan = Fanout()
    >>> sub = fan.subscribe(1)
    >>> fan.broadcast(1, BeatsMessage(session_id=1, sent_at_s=0.0, participants=[]))
    >>> fan.count(1), sub.pending
    (1, 1)
    >>> sub.close(); fan.count(1)
    0
    """

    def __init__(self) -> None:
        self._subs: dict[int, set[Subscription]] = {}
        #: Called with every broadcast message, subscribers or not (the cluster's publisher).
        self.tap: Callable[[int, Envelope], None] | None = None

    def subscribe(self, session_id: int, *, register: bool = True) -> Subscription:
        """A new subscription of the session (registered for its messages unless told not)."""
        sub = Subscription(session_id, self._forget)
        if register:
            self._subs.setdefault(session_id, set()).add(sub)
        return sub

    def _forget(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.session_id]

    def count(self, session_id: int) -> int:
        """Open subscriptions of a session."""
        return len(self._subs.get(session_id, ()))

    def broadcast(self, session_id: int, message: Any) -> None:
        """Queue ``message`` (serialised at most once) for every subscriber of the session."""
        subs = self._subs.get(session_id)
        if not subs and self.tap is None:
            return
        env = Envelope(message)
        if self.tap is not None:
            self.tap(session_id, env)
        for sub in list(subs or ()):
            sub.put(env)

    def redact(self, session_id: int, participant_id: int) -> None:
        """Take a participant's beats and device messages out of every queued message."""
        for sub in list(self._subs.get(session_id, ())):
            sub.redact(participant_id)

    def end(self, session_id: int | None = None) -> None:
        """End the subscriptions of a session (of every session with None)."""
        ids = list(self._subs) if session_id is None else [session_id]
        for sid in ids:
            for sub in list(self._subs.get(sid, ())):
                sub.end()
