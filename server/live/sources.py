"""Where a live session's beats come from: the source factory and its default.

The hub asks a :data:`SourceFactory` for one :class:`sensor.types.BeatSource` per session, giving
it a :class:`SourceSpec` (who takes part, which device each wears, when the session clock starts
and how fast it runs). :func:`default_source_factory` builds the real ones: the simulator
(:class:`sensor.simulator.SimulatedSource`, both roles in one source, seeded), BLE straps
(:class:`sensor.ble.BleSource` with bleak) and file replays (:class:`sensor.replay.ReplaySource`);
tests inject fakes. Items of a source carry a ``participant`` label that the hub maps back to a
participant: the simulator labels by role, the others by the participant's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hrv.errors import ParameterError
from sensor.errors import SensorError
from sensor.types import BeatSource, SourceItem
from server.settings import ServerSettings
from server.storage import InvalidRecordError, Role, SourceKind

__all__ = [
    "IdleSource",
    "MergedSource",
    "SourceFactory",
    "SourceParticipant",
    "SourceSpec",
    "default_source_factory",
    "resolve_replay_file",
    "simulator_seed",
]

_log = logging.getLogger(__name__)

#: Source kinds whose clock may run faster than real time (``settings.speed``).
ACCELERATED_KINDS: Final[frozenset[str]] = frozenset({"simulator", "file"})


@dataclass(frozen=True, slots=True)
class SourceParticipant:
    """One participant of a session and the device assigned to them.

    Attributes
    ----------
    participant_id : int
    code : str
        Pseudonymous code (the label of BLE and file items).
    role : {"patient", "therapist"}
        The label of simulator items.
    source_kind : {"ble", "simulator", "file", "lsl"}
    address : str or None
        BLE address or name, simulator seed, file path, LSL stream name.
    """

    participant_id: int
    code: str
    role: Role
    source_kind: SourceKind
    address: str | None


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What a source factory is given to build one session's source.

    Attributes
    ----------
    session_id : int
    participants : tuple of SourceParticipant
    start_time_s : float
        Session-clock time of the start, s (host time when the session started).
    speed : float
        Session-clock speed (``settings.speed`` when every device is simulated or replayed, else
        1); the source's host and beat times must follow ``start_time_s + speed * elapsed``.
    duration_s : float
        Planned duration of the session, s (the phase template's total).
    clock : callable
        The hub's host clock, s.
    """

    session_id: int
    participants: tuple[SourceParticipant, ...]
    start_time_s: float
    speed: float = 1.0
    duration_s: float = 3600.0
    clock: Callable[[], float] = field(default=time.time)


#: Builds the source of one session; may raise :class:`server.storage.InvalidRecordError`.
SourceFactory = Callable[[SourceSpec], BeatSource]


class MergedSource:
    """Several sources as one (e.g. a simulated therapist and a patient's strap).

    Items are yielded in the order they arrive; the stream ends when every source has ended.
    ``aclose`` closes every source.
    """

    def __init__(self, sources: Sequence[BeatSource]) -> None:
        if not sources:
            raise ParameterError("expected at least one source to merge, got none")
        self.sources = tuple(sources)
        self._tasks: list[asyncio.Task[None]] = []

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def _pump(self, source: BeatSource, out: asyncio.Queue[SourceItem | None]) -> None:
        try:
            async for item in source:
                await out.put(item)
        finally:
            await out.put(None)

    async def _run(self) -> AsyncIterator[SourceItem]:
        out: asyncio.Queue[SourceItem | None] = asyncio.Queue(maxsize=256)
        self._tasks = [asyncio.create_task(self._pump(s, out)) for s in self.sources]
        running = len(self._tasks)
        try:
            while running:
                item = await out.get()
                if item is None:
                    running -= 1
                else:
                    yield item
            for task in self._tasks:
                await task  # re-raises a source's error
        finally:
            for task in self._tasks:
                task.cancel()

    async def aclose(self) -> None:
        """Close every source."""
        for source in self.sources:
            await source.aclose()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class IdleSource:
    """A source that yields nothing until closed: the place of remote participants, whose beats
    arrive through the ingest protocol (:mod:`server.remote`) and not from a source."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def _run(self) -> AsyncIterator[SourceItem]:
        await self._closed.wait()
        nothing: tuple[SourceItem, ...] = ()
        for item in nothing:  # pragma: no cover - an async generator that yields nothing
            yield item

    async def aclose(self) -> None:
        """Stop iterating."""
        self._closed.set()


def simulator_seed(address: str | None, session_id: int) -> int:
    """The simulator seed of an assignment: ``"7"`` or ``"seed=7"``; default the session id.

    Examples
    --------
    >>> simulator_seed("seed=7", 3), simulator_seed(None, 3), simulator_seed("42", 3)
    (7, 3, 42)
    """
    if address is None or not address.strip():
        return session_id
    text = address.strip().removeprefix("seed=").removeprefix("seed:")
    try:
        return int(text)
    except ValueError:
        return zlib.crc32(text.encode()) & 0x7FFFFFFF  # a stable seed from any name


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def resolve_replay_file(settings: ServerSettings, address: str, code: str) -> Path:
    """The real path of a file a session may replay, or :class:`InvalidRecordError`.

    A client names a file, never a server path it chose freely: the address is read relative
    to ``settings.replay_dir`` (an absolute path is accepted only if it lies there too). The
    resolved real path (symbolic links followed) must stay inside the replay folder and outside
    the data directory, be a regular file (not a device, FIFO or folder) and hold at most
    ``settings.max_replay_bytes``. Whatever fails, the client gets one generic message naming the
    participant's code only; the reason, with the path, goes to the server log.

    Parameters
    ----------
    settings : ServerSettings
    address : str
        The assignment's address (a file name in the replay folder).
    code : str
        The participant's code (for the message).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from server.storage import StorageSettings
    >>> s = ServerSettings(StorageSettings(Path("/tmp/d")))
    >>> try:
    ...     resolve_replay_file(s, "/etc/passwd", "P1")
    ... except InvalidRecordError as exc:
    ...     print(str(exc)[:50])
    the file assigned to participant P1 cannot be repl
    """
    generic = (
        f"the file assigned to participant {code} cannot be replayed (file replay is limited "
        "to the server's replay folder; see the server log)"
    )

    def refuse(reason: str) -> InvalidRecordError:
        _log.warning("refused to replay %r for participant %s: %s", address, code, reason)
        return InvalidRecordError(generic)

    if settings.replay_dir is None:
        raise refuse("file replay is off (set SINTONIA_REPLAY_DIR)")
    if "\x00" in address:
        raise refuse("NUL in the path")
    try:
        folder = settings.replay_dir.resolve(strict=True)
        data_dir = settings.data_dir.resolve()
        path = (folder / address).resolve(strict=True)
        info = os.stat(path)
    except (OSError, RuntimeError, ValueError) as exc:
        raise refuse(f"cannot resolve: {exc}") from None
    if not _inside(path, folder):
        raise refuse(f"{path} is outside the replay folder {folder}")
    if _inside(path, data_dir):
        raise refuse(f"{path} is in the data directory")
    if not stat.S_ISREG(info.st_mode):
        raise refuse(f"{path} is not a regular file")
    if info.st_size > settings.max_replay_bytes:
        raise refuse(f"{path} holds {info.st_size} bytes, more than {settings.max_replay_bytes}")
    return path


def default_source_factory(settings: ServerSettings) -> SourceFactory:
    """The factory of real sources (the server's default).

    * ``simulator`` assignments: one :class:`sensor.simulator.SimulatedSource` streaming the roles
      of those participants, :meth:`Scenario.first_session` scaled to the session's planned
      duration, seeded by the first assignment's address (:func:`simulator_seed`), at
      ``spec.speed``.
    * ``ble``: one :class:`sensor.ble.BleSource` (bleak) for every strap, labelled by code.
    * ``file``: a :class:`sensor.replay.ReplaySource` per participant: the address names a file
      in ``settings.replay_dir`` (:func:`resolve_replay_file`; a Sintonia beats file must hold the
      participant's code; any other RR file is that participant's beats), shifted to start at
      the session start, at ``spec.speed``. The factory reads the file: the hub calls it off the
      event loop.
    * ``lsl``: not served live yet (:class:`InvalidRecordError`).

    Several kinds in one session are merged (:class:`MergedSource`).

    Parameters
    ----------
    settings : ServerSettings

    Returns
    -------
    SourceFactory

    Examples
    --------
    >>> from pathlib import Path
    >>> from server.storage import StorageSettings
    >>> build = default_source_factory(ServerSettings(StorageSettings(Path("."))))
    >>> people = (SourceParticipant(1, "P1", "patient", "simulator", "seed=7"),
    ...           SourceParticipant(2, "T1", "therapist", "simulator", "seed=7"))
    >>> source = build(SourceSpec(1, people, start_time_s=0.0, speed=20.0))
    >>> type(source).__name__, source.seed, source.roles
    ('SimulatedSource', 7, ('patient', 'therapist'))
    """

    def build(spec: SourceSpec) -> BeatSource:
        by_kind: dict[str, list[SourceParticipant]] = {}
        for p in spec.participants:
            by_kind.setdefault(p.source_kind, []).append(p)
        sources: list[BeatSource] = []
        if sims := by_kind.pop("simulator", []):
            from sensor.simulator import Scenario, SimulatedSource

            roles = [p.role for p in sims]
            if len(set(roles)) != len(roles):
                raise InvalidRecordError(
                    f"the simulator plays one patient and one therapist, got roles {roles}"
                )
            sources.append(
                SimulatedSource(
                    Scenario.first_session(spec.duration_s),
                    seed=simulator_seed(sims[0].address, spec.session_id),
                    roles=roles,
                    speed=spec.speed,
                    start_time_s=spec.start_time_s,
                    clock=spec.clock,
                )
            )
        if straps := by_kind.pop("ble", []):
            from sensor.ble import BleSource, DeviceSpec, bleak_backend

            missing = [p.code for p in straps if not p.address]
            if missing:
                raise InvalidRecordError(f"BLE assignments need an address or name: {missing}")
            client_factory, scanner = bleak_backend()
            sources.append(
                BleSource(
                    [DeviceSpec(p.code, str(p.address)) for p in straps],
                    client_factory=client_factory,
                    scanner=scanner,
                    clock=spec.clock,
                )
            )
        for p in by_kind.pop("file", []):
            from sensor.replay import ReplaySource

            if not p.address:
                raise InvalidRecordError(f"a file assignment needs a path: participant {p.code}")
            path = resolve_replay_file(settings, p.address, p.code)
            try:
                replay = ReplaySource(
                    path,
                    p.code,
                    speed=spec.speed,
                    start_time_s=spec.start_time_s,
                    clock=spec.clock,
                )
            except (OSError, SensorError, ValueError, MemoryError) as exc:
                # The parser's message may quote the file: it goes to the log, never to a client.
                _log.warning("cannot replay %s for participant %s: %s", path, p.code, exc)
                raise InvalidRecordError(
                    f"the file assigned to participant {p.code} cannot be replayed: it is not "
                    "an RR or beats file this server reads (details in the server log)"
                ) from None
            sources.append(replay)
        if by_kind.pop("remote", []):
            sources.append(IdleSource())  # their beats come through /ws/ingest (server.remote)
        if by_kind:
            raise InvalidRecordError(
                f"device kinds {sorted(by_kind)} cannot be streamed live; "
                "expected simulator, ble, file or remote"
            )
        if not sources:
            raise InvalidRecordError(
                f"session {spec.session_id} has no device assignments; assign straps, the "
                "simulator or a file first"
            )
        return sources[0] if len(sources) == 1 else MergedSource(sources)

    return build
