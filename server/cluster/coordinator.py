"""The live hub among several server processes: who runs a session, and how its messages travel.

:class:`Coordinator` joins one process's :class:`~server.live.LiveHub` to the cluster through a
:class:`~server.cluster.node.ClusterNode`:

* **Start.** A session starts only in the process that takes its lease; a process that finds
  the session leased by another refuses (409). A stop releases the lease once the end is stored.
* **Start-up.** Live sessions left by a dead process are *orphans* (no lease, or an expired
  one). Alone on SQLite, every live session is an orphan (nothing else can run one). On
  PostgreSQL a session whose lease another live process renews is never touched (two servers no
  longer mark each other's sessions interrupted). An orphan is adopted when the broker lets any
  process receive its beats (every participant remote: :meth:`LiveHub.adopt_session`), else
  marked interrupted. The lease keeper keeps looking for orphans every half TTL.
* **Lost lease.** The hub abandons the session at once: no derived write after that
  (:meth:`LiveHub.abandon_session`); its subscribers' sockets close and the pages reconnect.
* **Messages.** Every message the owner's hub broadcasts is also published, in order, on the
  session's ``live:`` channel; a process without the session serves its subscribers from
  storage first (the whole session so far, as the finished-session view does: live == batch),
  then from the channel.
* **Ingest.** Beats a process stored for a session it does not run are forwarded on the
  session's ``ingest:`` channel; the owner feeds them to its engine (storage is idempotent, so
  the owner's own write of them stores nothing twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from sensor.types import BeatBatch
from server.cluster.broker import BrokerError
from server.cluster.codec import decode_batch
from server.cluster.node import ClusterNode, ClusterStatus
from server.live.finished import finished_history
from server.live.subscription import Envelope, Subscription
from server.messages import VisibilityMessage
from server.settings import ServerSettings
from server.storage import (
    InvalidRecordError,
    OnRevoke,
    RecordNotFoundError,
    StateConflictError,
    StorageError,
    Store,
)

if TYPE_CHECKING:
    from server.live import LiveHub

__all__ = ["COMMANDS", "CommandConflictError", "Coordinator"]

_log = logging.getLogger(__name__)
#: Published messages waiting for the broker before new ones are dropped (the broker is down).
_PUBLISH_BACKLOG: Final[int] = 10_000
#: The therapist's commands a process forwards to the one that runs the session.
COMMANDS: Final[frozenset[str]] = frozenset(
    {
        "advance_phase",
        "extend_phase",
        "marker_added",
        "marker_changed",
        "cue_responded",
        "set_privacy_pause",
        "set_pacer",
        "stop_session",
    }
)
#: Longest wait for the owner's answer to a forwarded command, s.
_COMMAND_TIMEOUT_S: Final[float] = 5.0


class CommandConflictError(StateConflictError):
    """A forwarded command was refused by the process that runs the session (or it did not
    answer): the API answers 409 with this message."""

    def __init__(self, message: str) -> None:
        StorageError.__init__(self, message)
        self.expected = "live"
        self.actual = "refused"


class Coordinator:
    """One process's part in the cluster (see the module documentation).

    Parameters
    ----------
    store : Store
    hub : LiveHub
    settings : ServerSettings
        ``broker_url``, ``lease_ttl_s`` and ``node_id`` are used.
    """

    def __init__(self, store: Store, hub: LiveHub, settings: ServerSettings) -> None:
        self.store = store
        self.hub = hub
        self.node = ClusterNode.open(
            store.engine,
            settings.broker_url,
            node_id=settings.node_id,
            ttl_s=settings.lease_ttl_s,
            on_lost=self._lost,
            on_orphan=self._orphan,
            candidates=self._live_in_database,
        )
        self._outbox: asyncio.Queue[tuple[int, str]] = asyncio.Queue(_PUBLISH_BACKLOG)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._followers: dict[int, asyncio.Task[None]] = {}
        self.dropped_messages = 0
        #: Whether the broker answered the last ping (a process without it adopts nothing).
        self.broker_ok = True
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def distributed(self) -> bool:
        """Whether other processes may share the sessions (PostgreSQL with a broker)."""
        return self.node.distributed

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> list[int]:
        """Handle the orphans found at start-up, then keep the leases; returns those marked
        interrupted."""
        interrupted: list[int] = []
        if self.store.dialect == "sqlite":
            interrupted = await asyncio.to_thread(self.store.mark_interrupted_sessions)
        else:
            for sid in await self._orphans():
                if not await self._orphan(sid):
                    interrupted.append(sid)
        self.hub.cluster = self
        self.store.session_guard = self._guard
        if self.distributed:
            self._tasks["publish"] = asyncio.create_task(self._publisher(), name="cluster-pub")
            self._tasks["broker"] = asyncio.create_task(self._watch_broker(), name="cluster-br")
            self._tasks["replies"] = asyncio.create_task(self._follow_replies(), name="cluster-re")
            self._tasks["people"] = asyncio.create_task(self._follow_people(), name="cluster-pp")
        self.node.start()
        return interrupted

    async def _watch_broker(self) -> None:
        """A process cut off from the broker cannot reach the other processes' subscribers nor
        receive the beats they store: after a TTL without the broker it gives its sessions up
        (no derived write after that), and it adopts none until the broker answers again."""
        ttl = self.node.keeper.leases.ttl_s
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                await asyncio.wait_for(self.node.broker.ping(), ttl / 3)
                down_since = None
                self.broker_ok = True
                continue
            except (BrokerError, TimeoutError):
                self.broker_ok = False
            now = loop.time()
            down_since = now if down_since is None else down_since
            if now - down_since >= ttl:
                for sid in list(self.node.keeper.held()):
                    _log.warning("broker unreachable: giving session %d up", sid)
                    await self._lost(sid)
                    await self.node.keeper.release(sid)

    def _guard(self, conn: Any, session_id: int) -> None:
        """Fence a derived write of a session in the write's own transaction: with this
        process's lease, the lease must still hold (on PostgreSQL its row stays share-locked
        until the write commits, so a takeover waits for it); without one, no other process may
        hold an unexpired lease of the session."""
        lease = self.node.keeper.current(session_id)
        if lease is None:
            self.node.keeper.leases.fence_unleased(conn, session_id)
        else:
            self.node.keeper.leases.fence(conn, lease)

    async def aclose(self) -> None:
        """Stop following and publishing, release the leases, close the broker."""
        for task in [*self._followers.values(), *self._tasks.values()]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._followers.clear()
        self._tasks.clear()
        await self.node.aclose()

    async def status(self) -> ClusterStatus:
        """For ``GET /api/health``."""
        return await self.node.status()

    # ------------------------------------------------------------------ ownership
    async def claim(self, session_id: int) -> bool:
        """Take the session's lease before the hub runs it; False: another process runs it."""
        if await self.node.keeper.acquire(session_id) is None:
            return False
        if self.distributed:
            self._follow_ingest(session_id)
        return True

    async def release(self, session_id: int) -> None:
        """The hub stopped the session (its end is stored): give the lease up."""
        task = self._followers.pop(session_id, None)
        if task is not None:
            task.cancel()
        await self.node.keeper.release(session_id)

    async def _lost(self, session_id: int) -> None:
        # Alone (SQLite, or PostgreSQL without a broker) nobody takes sessions over, so a lease
        # lost to a stall of this process is taken back rather than the session dropped; only
        # another process already holding it stops this one.
        alone = not self.distributed and self.hub.is_live(session_id)
        if alone and await self.node.keeper.acquire(session_id) is not None:
            _log.warning("lease of session %d expired during a stall: taken back", session_id)
            return
        task = self._followers.pop(session_id, None)
        if task is not None:
            task.cancel()
        if self.hub.is_live(session_id):
            _log.warning("lease of session %d lost: abandoning it to its new owner", session_id)
            await self.hub.abandon_session(session_id)

    async def _orphan(self, session_id: int) -> bool:
        """Take over a session whose owner died; True when this process now runs it."""
        if self.hub.is_live(session_id) or (self.distributed and not self.broker_ok):
            return False
        if await self.node.keeper.acquire(session_id) is None:
            return False
        try:
            adopted = self.distributed and await self.hub.adopt_session(session_id)
        except Exception:  # whatever went wrong, the session must not stay leased and idle
            _log.exception("session %d could not be adopted", session_id)
            adopted = False
        if adopted:
            self._follow_ingest(session_id)
            _log.warning("session %d taken over from a process that stopped", session_id)
            return True
        await asyncio.to_thread(self.store.mark_interrupted_sessions, only=[session_id])
        await self.node.keeper.release(session_id)
        return False

    def _live_in_database(self) -> list[int]:
        return self.store.live_session_ids()

    async def _orphans(self) -> list[int]:
        live = await asyncio.to_thread(self._live_in_database)
        holders = {
            h.session_id: h for h in await asyncio.to_thread(self.node.keeper.leases.holders)
        }
        return [s for s in live if s not in holders or holders[s].expired]

    # ------------------------------------------------------------------ messages
    def publish(self, session_id: int, envelope: Envelope) -> None:
        """Queue one broadcast message of an owned session for the broker (never blocks)."""
        if not self.distributed:
            return
        try:
            self._outbox.put_nowait((session_id, envelope.text))
        except asyncio.QueueFull:
            self.dropped_messages += 1  # the broker is down: pages catch up from storage

    async def _publisher(self) -> None:
        while True:
            sid, text = await self._outbox.get()
            try:
                await self.node.publish_live(sid, text)
            except BrokerError as exc:
                self.dropped_messages += 1
                _log.warning("live message of session %d not published: %s", sid, exc)

    def relay_subscription(self, session_id: int) -> Subscription:
        """A subscription of a session another process runs: the session so far from storage,
        then the owner's messages from the broker."""
        tasks: list[asyncio.Task[None]] = []

        def closed(_sub: Subscription) -> None:
            for t in tasks:
                t.cancel()

        sub = Subscription(session_id, closed)
        task = asyncio.create_task(self._relay(sub), name=f"cluster-relay-{session_id}")
        tasks.append(task)
        key = f"relay-{id(sub)}"
        self._tasks[key] = task
        task.add_done_callback(lambda _t: self._tasks.pop(key, None))
        return sub

    async def _relay(self, sub: Subscription) -> None:
        sid = sub.session_id
        try:
            history = await asyncio.to_thread(finished_history, self.store, sid, "live_display")
            sub.put(Envelope(history))
            async for msg in self.node.follow_live(sid, since_s=history.now_s):
                if sub.closed:
                    return
                if isinstance(msg, VisibilityMessage) and not msg.visible:
                    sub.redact(msg.participant_id)
                sub.put(Envelope(msg))
                if msg.type == "session" and msg.status in ("stopped", "interrupted"):
                    sub.end()
                    return
        except asyncio.CancelledError:
            raise
        except (BrokerError, StorageError) as exc:
            _log.warning("relay of session %d ended: %s", sid, exc)
        sub.end()

    # ------------------------------------------------------------------ ingest
    async def forward_ingest(self, session_id: int, participant_id: int, batch: BeatBatch) -> None:
        """Beats this process stored for a session it does not run: hand them to the owner."""
        await self.node.forward_ingest(session_id, participant_id, batch)

    def _follow_ingest(self, session_id: int) -> None:
        if session_id in self._followers:
            return

        async def both() -> None:
            await asyncio.gather(self._ingest(session_id), self._control(session_id))

        task = asyncio.create_task(both(), name=f"cluster-in-{session_id}")
        self._followers[session_id] = task

    async def _ingest(self, session_id: int) -> None:
        # From what is published after this point; a batch resent by a reconnecting client
        # (stored again: idempotent) reaches the engine once: the end of the newest beat seen
        # per device stream is kept.
        seen: dict[tuple[str, str], int] = {}

        async def feed(data: bytes) -> None:
            _pid, batch = decode_batch(data)
            key = (batch.participant, batch.device)
            end = batch.seq + len(batch)
            if end > seen.get(key, -1):
                seen[key] = end
                self.hub.ingest_remote(session_id, batch)

        await self._follow(f"ingest:{session_id}", feed)

    async def _follow(self, channel: str, handle: Callable[[bytes], Awaitable[None]]) -> None:
        """Hand each message published on ``channel`` from now on to ``handle``, in order; after
        a broker error (or a malformed message) go on after the last one taken: none is handled
        twice, none skipped."""
        after: str | None = None
        while True:
            try:
                async for m in self.node.broker.follow(channel, after_id=after):
                    after = m.id
                    await handle(m.data)
                return
            except asyncio.CancelledError:
                raise
            except BrokerError as exc:
                _log.warning("broker channel %s: %s; going on", channel, exc)
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ commands
    async def command(self, session_id: int, op: str, **kw: Any) -> dict[str, Any] | None:
        """Run a therapist's command (:data:`COMMANDS`) where the session runs: here, or in the
        process that holds its lease (through the broker, waiting for its answer).

        Raises
        ------
        StateConflictError, RecordNotFoundError, InvalidRecordError
            As the hub raises them (the API maps them to 409, 404, 422).
        """
        if op not in COMMANDS:
            raise InvalidRecordError(f"unknown command {op!r}")
        if not self.distributed or self.hub.is_live(session_id):
            return await self._run_command(session_id, op, kw)
        req = secrets.token_hex(8)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[req] = fut
        try:
            doc = {"id": req, "op": op, "kw": kw, "reply": self.node.node_id}
            await self.node.broker.publish(f"control:{session_id}", json.dumps(doc).encode())
            answer = await asyncio.wait_for(fut, _COMMAND_TIMEOUT_S)
        except (TimeoutError, BrokerError) as exc:
            raise CommandConflictError(
                f"session {session_id} runs in another server process, which did not answer"
            ) from exc
        finally:
            self._replies.pop(req, None)
        if answer.get("ok"):
            value = answer.get("value")
            return value if isinstance(value, dict) else None
        kind, detail = answer.get("error"), str(answer.get("detail", ""))[:500]
        if kind == "not_found":
            raise RecordNotFoundError("session", session_id)
        if kind == "invalid":
            raise InvalidRecordError(detail)
        raise CommandConflictError(detail or f"session {session_id} refused the command")

    async def _run_command(self, sid: int, op: str, kw: dict[str, Any]) -> dict[str, Any] | None:
        if op in ("marker_added", "marker_changed"):
            marker = await asyncio.to_thread(self.store.get_marker, sid, int(kw["marker_id"]))
            await getattr(self.hub, op)(sid, marker)
            return None
        result = await getattr(self.hub, op)(sid, **kw)
        return result if isinstance(result, dict) else None

    async def _control(self, session_id: int) -> None:
        """The owner's side: run forwarded commands, answer on the requester's channel."""

        async def answer(data: bytes) -> None:
            await self._answer(session_id, data)

        await self._follow(f"control:{session_id}", answer)

    async def _answer(self, session_id: int, data: bytes) -> None:
        try:
            doc = json.loads(data)
            req, op, kw, reply = str(doc["id"]), str(doc["op"]), dict(doc["kw"]), doc["reply"]
        except (ValueError, TypeError, KeyError):
            req, op, kw, reply = "", "", {}, None
        if op not in COMMANDS or not isinstance(reply, str):
            _log.warning("malformed command for session %d ignored", session_id)
            return
        answer: dict[str, Any]
        try:
            answer = {"id": req, "ok": True, "value": await self._run_command(session_id, op, kw)}
        except RecordNotFoundError as exc:
            answer = {"id": req, "ok": False, "error": "not_found", "detail": str(exc)}
        except (InvalidRecordError, TypeError, ValueError) as exc:
            answer = {"id": req, "ok": False, "error": "invalid", "detail": str(exc)}
        except StorageError as exc:
            answer = {"id": req, "ok": False, "error": "conflict", "detail": str(exc)}
        with contextlib.suppress(BrokerError):
            await self.node.broker.publish(f"reply:{reply}", json.dumps(answer).encode())

    async def _follow_replies(self) -> None:
        async def settle(data: bytes) -> None:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                answer = json.loads(data)
                fut = self._replies.get(str(answer["id"]))
                if fut is not None and not fut.done():
                    fut.set_result(answer)

        await self._follow(f"reply:{self.node.node_id}", settle)

    # ------------------------------------------------------------------ people
    async def consent_changed(self, participant_id: int) -> None:
        """A participant's consents changed: every process's live sessions apply it at once."""
        await self.hub.consent_changed(participant_id)
        await self._tell_people({"op": "consent", "participant_id": participant_id})

    async def participant_erased(
        self, participant_id: int, action: OnRevoke, *, session_id: int | None = None
    ) -> None:
        """A participant's data was erased: every process's live sessions forget it."""
        await self.hub.participant_erased(participant_id, action, session_id=session_id)
        await self._tell_people(
            {
                "op": "erased",
                "participant_id": participant_id,
                "action": action,
                "session_id": session_id,
            }
        )

    async def _tell_people(self, doc: dict[str, Any]) -> None:
        if not self.distributed:
            return
        doc["from"] = self.node.node_id
        try:
            await self.node.broker.publish("people", json.dumps(doc).encode())
        except BrokerError as exc:  # the owners re-read consents when they (re)start sessions
            _log.warning("consent change not passed on to the other processes: %s", exc)

    async def _follow_people(self) -> None:
        async def apply(data: bytes) -> None:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                doc = json.loads(data)
                if doc["from"] == self.node.node_id:
                    return
                pid = int(doc["participant_id"])
                if doc["op"] == "consent":
                    await self.hub.consent_changed(pid)
                elif doc["op"] == "erased" and doc["action"] in ("delete", "deidentify"):
                    sid = doc["session_id"]
                    await self.hub.participant_erased(
                        pid, doc["action"], session_id=None if sid is None else int(sid)
                    )

        await self._follow("people", apply)

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks."""
        return {"dropped_messages": self.dropped_messages, "followers": len(self._followers)}
