"""``sintonia scan`` and ``sintonia record``: find heart-rate straps, record their beats to a file.

``record`` writes the Sintonia beats CSV of :class:`sensor.files.BeatFileWriter` (flushed after
every notification, so an interrupted recording keeps every beat received), which
``sintonia analyze`` and the replay source read. Ctrl-C stops cleanly: the straps are disconnected,
the beats already received are decoded and written, and the file is closed.

The work is done by :func:`record` and :func:`scan`, which take the BLE backend (client factory,
scanner, clock, sleep) as arguments; the command functions wire bleak in (the composition root),
and the tests wire :mod:`sensor.fake_ble`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hrv.errors import ParameterError, SintoniaError
from sensor.ble import (
    BleSource,
    ClientFactory,
    DeviceSpec,
    FoundStrap,
    ReconnectPolicy,
    Scanner,
    bleak_backend,
    host_clock,
    scan_heart_rate_straps,
)
from sensor.files import BeatFileWriter
from sensor.types import BeatBatch, DeviceEvent

__all__ = [
    "DBUS_SYSTEM_SOCKET",
    "SYS_BLUETOOTH",
    "Backend",
    "NoBluetoothError",
    "ParticipantStatus",
    "RecordSummary",
    "bluetooth_problem",
    "format_progress",
    "format_scan_table",
    "record",
    "register",
    "run_record",
    "run_scan",
    "scan",
]

#: Default participant codes when --participant is not given, in --device order.
_DEFAULT_PARTICIPANTS: Final[tuple[str, ...]] = ("patient", "therapist")


@dataclass(frozen=True, slots=True)
class Backend:
    """The BLE backend of a command: bleak for real, :mod:`sensor.fake_ble` in tests."""

    client_factory: ClientFactory
    scanner: Scanner
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]


#: Where Linux lists its Bluetooth adapters (hci0, ...).
SYS_BLUETOOTH: Final[Path] = Path("/sys/class/bluetooth")
#: The system D-Bus socket BlueZ is reached through, unless DBUS_SYSTEM_BUS_ADDRESS says otherwise.
DBUS_SYSTEM_SOCKET: Final[Path] = Path("/run/dbus/system_bus_socket")


class NoBluetoothError(SintoniaError):
    """This computer has no usable Bluetooth adapter (found before any scan or connection)."""


def bluetooth_problem(
    *,
    platform: str = sys.platform,
    sys_bluetooth: Path = SYS_BLUETOOTH,
    dbus_socket: Path | None = None,
) -> str | None:
    """Why Bluetooth cannot work here, in one sentence with what to check; None if it may.

    Only Linux is checked (adapters in ``/sys/class/bluetooth``, BlueZ through the system
    D-Bus); elsewhere None, and bleak reports what it finds.

    Examples
    --------
    >>> bluetooth_problem(platform="darwin") is None
    True
    """
    if not platform.startswith("linux"):
        return None
    adapters = sorted(sys_bluetooth.glob("hci*")) if sys_bluetooth.is_dir() else []
    if not adapters:
        return (
            f"no Bluetooth adapter found ({sys_bluetooth} lists none): check that this computer "
            "has Bluetooth or a USB Bluetooth adapter is plugged in, that it is not switched off "
            "or blocked ('rfkill list'), and that the bluetooth service is running"
        )
    if dbus_socket is None:
        address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
        dbus_socket = (
            Path(address.split("unix:path=", 1)[1].split(",", 1)[0])
            if address.startswith("unix:path=")
            else DBUS_SYSTEM_SOCKET
        )
    if not dbus_socket.exists():
        return (
            f"Bluetooth adapter found, but the system D-Bus is not running (no {dbus_socket}): "
            "Sintonia reaches Bluetooth through BlueZ over D-Bus; start D-Bus and the bluetooth "
            "service ('systemctl start bluetooth')"
        )
    return None


@contextlib.asynccontextmanager
async def _bleak() -> AsyncIterator[Backend]:
    problem = bluetooth_problem(platform=sys.platform, sys_bluetooth=SYS_BLUETOOTH)
    if problem is not None:
        raise NoBluetoothError(problem)
    client_factory, scanner = bleak_backend()
    yield Backend(client_factory, scanner, host_clock(), asyncio.sleep)


BackendFactory = Callable[[], AbstractAsyncContextManager[Backend]]


# ------------------------------------------------------------------------------------- scan
def format_scan_table(straps: Sequence[FoundStrap]) -> str:
    """A fixed-width table of straps: name, address, RSSI (dBm).

    Examples
    --------
    >>> print(format_scan_table([FoundStrap("AA:BB:CC:DD:EE:FF", "Polar H10 1A2B", -58, None)]))
    NAME            ADDRESS            RSSI
    Polar H10 1A2B  AA:BB:CC:DD:EE:FF  -58 dBm
    """
    rows = [("NAME", "ADDRESS", "RSSI")]
    rows += [
        (s.name or "(no name)", s.address, f"{s.rssi} dBm" if s.rssi is not None else "?")
        for s in straps
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows)


async def scan(backend: Backend, timeout_s: float) -> list[FoundStrap]:
    """Nearby heart-rate straps (Heart Rate Service 0x180D), strongest signal first."""
    return await scan_heart_rate_straps(backend.scanner, timeout_s)


def run_scan(args: argparse.Namespace, *, backend: BackendFactory = _bleak) -> int:
    """``sintonia scan``: print the table of nearby straps; exit 1 if none, 2 if no Bluetooth."""

    async def main() -> list[FoundStrap]:
        async with backend() as b:
            return await scan(b, args.timeout)

    try:
        straps = asyncio.run(main())
    except NoBluetoothError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # no adapter, no D-Bus, permissions: say so, do not trace back
        print(
            f"error: Bluetooth scan failed ({type(exc).__name__}: {exc}); is there a Bluetooth "
            "adapter, switched on, and (on Linux) BlueZ with D-Bus running?",
            file=sys.stderr,
        )
        return 2
    if not straps:
        print(
            f"no heart-rate straps found in {args.timeout:g} s (worn and moistened? "
            "Bluetooth on? not connected to a phone app?)",
            file=sys.stderr,
        )
        return 1
    print(format_scan_table(straps))
    return 0


# ----------------------------------------------------------------------------------- record
@dataclass(slots=True)
class ParticipantStatus:
    """What the progress line shows for one participant."""

    participant: str
    heart_rate_bpm: int | None = None
    battery_pct: int | None = None
    contact: bool | None = None
    beats: int = 0
    state: str = "connecting"


@dataclass(slots=True)
class RecordSummary:
    """Outcome of a recording.

    Attributes
    ----------
    path : pathlib.Path
        The beats file.
    beats : dict of str to int
        Beats written per participant.
    gave_up : list of str
        Participants whose strap could not be (re)connected in time.
    malformed : int
        Malformed notifications skipped.
    duration_s : float
        Host time from start to stop, s.
    interrupted : bool
        Stopped by the user (Ctrl-C) rather than by ``minutes`` or by every strap giving up.
    """

    path: Path
    beats: dict[str, int] = field(default_factory=dict)
    gave_up: list[str] = field(default_factory=list)
    malformed: int = 0
    duration_s: float = 0.0
    interrupted: bool = False


def format_progress(statuses: Sequence[ParticipantStatus], elapsed_s: float) -> str:
    """One progress line: elapsed time, then HR, battery, contact and beats per participant.

    Examples
    --------
    >>> s = ParticipantStatus("patient", 72, 90, True, 1234, "streaming")
    >>> format_progress([s], 75.0)
    '01:15 | patient: HR 72 bpm, battery 90%, contact yes, 1234 beats'
    """
    minutes, seconds = divmod(int(elapsed_s), 60)
    parts = [f"{minutes:02d}:{seconds:02d}"]
    for s in statuses:
        if s.state != "streaming":
            parts.append(f"{s.participant}: {s.state}, {s.beats} beats")
            continue
        hr = f"{s.heart_rate_bpm} bpm" if s.heart_rate_bpm is not None else "--"
        batt = f"{s.battery_pct}%" if s.battery_pct is not None else "?"
        contact = {True: "yes", False: "NO", None: "n/a"}[s.contact]
        parts.append(
            f"{s.participant}: HR {hr}, battery {batt}, contact {contact}, {s.beats} beats"
        )
    return " | ".join(parts)


_STATE_OF_EVENT: Final[dict[str, str]] = {
    "connecting": "connecting",
    "reconnecting": "reconnecting",
    "connected": "streaming",
    "disconnected": "disconnected",
    "gave_up": "gave up",
}


async def record(
    devices: Sequence[DeviceSpec],
    out: str | Path,
    backend: Backend,
    *,
    minutes: float | None = None,
    policy: ReconnectPolicy | None = None,
    stop: asyncio.Event | None = None,
    progress: Callable[[str], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> RecordSummary:
    """Record raw beats of one or more straps to a Sintonia beats CSV.

    Parameters
    ----------
    devices : sequence of DeviceSpec
        Participant and strap address or name, one per strap.
    out : str or Path
        Beats file (created, or appended to if it is already a beats file).
    backend : Backend
        BLE client factory, scanner, host clock and sleep.
    minutes : float, optional
        Stop after this much host time; None: until ``stop`` is set or every strap gave up.
    policy : ReconnectPolicy, optional
        Reconnection backoff and give-up time.
    stop : asyncio.Event, optional
        Set it (e.g. from a SIGINT handler) to stop cleanly.
    progress : callable, optional
        Receives the progress line (:func:`format_progress`) after every item.
    notice : callable, optional
        Receives one line per connection event (connected, lost, gave up, malformed packet).

    Returns
    -------
    RecordSummary

    Notes
    -----
    Every batch is appended and flushed before the next item is read, and on stop the source is
    closed with :meth:`BleSource.aclose`, which delivers the notifications already received
    before the stream ends: nothing received is dropped.
    """
    path = Path(out)
    source = BleSource(
        devices,
        client_factory=backend.client_factory,
        scanner=backend.scanner,
        policy=policy,
        clock=backend.clock,
        sleep=backend.sleep,
    )
    statuses = {d.participant: ParticipantStatus(d.participant) for d in devices}
    summary = RecordSummary(path, beats=dict.fromkeys(statuses, 0))
    stop_event = stop if stop is not None else asyncio.Event()
    started = backend.clock()

    async def stopper() -> None:
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop_event.wait())]
        if minutes is not None:
            waiters.append(asyncio.ensure_future(backend.sleep(minutes * 60.0)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        summary.interrupted = stop_event.is_set()
        await source.aclose()

    with BeatFileWriter(path) as writer:
        stop_task = asyncio.create_task(stopper())
        try:
            async for item in source:
                status = statuses[item.participant]
                if isinstance(item, BeatBatch):
                    writer.append(item)
                    status.beats += len(item)
                    summary.beats[item.participant] += len(item)
                    status.heart_rate_bpm = item.heart_rate_bpm
                    status.contact = item.contact
                    status.state = "streaming"
                else:
                    _apply_event(status, item, summary, notice)
                if progress is not None:
                    progress(format_progress(list(statuses.values()), backend.clock() - started))
        finally:
            stop_task.cancel()
            await asyncio.gather(stop_task, return_exceptions=True)
            await source.aclose()
    summary.duration_s = backend.clock() - started
    return summary


def _apply_event(
    status: ParticipantStatus,
    event: DeviceEvent,
    summary: RecordSummary,
    notice: Callable[[str], None] | None,
) -> None:
    who = event.participant
    if event.kind == "battery" and event.value is not None:
        status.battery_pct = int(event.value)
    elif event.kind == "contact":
        status.contact = event.value == 1.0
    elif event.kind in _STATE_OF_EVENT:
        status.state = _STATE_OF_EVENT[event.kind]
    message = None
    if event.kind == "connected":
        where = event.detail.get("body_sensor_location")
        message = f"{who}: connected to {event.detail.get('name') or event.device} ({event.device})"
        if where:
            message += f", worn on the {where}"
        if "offline_s" in event.detail:
            message += f", after {float(event.detail['offline_s']):.1f} s offline"
    elif event.kind in ("connecting", "reconnecting") and "last_error" in event.detail:
        message = (
            f"{who}: attempt {int(event.value or 0)} to reach {event.detail.get('target', '')} "
            f"(previous: {event.detail['last_error']})"
        )
    elif event.kind == "disconnected":
        message = f"{who}: link lost, reconnecting"
    elif event.kind == "gave_up":
        summary.gave_up.append(who)
        message = f"{who}: gave up ({event.detail.get('last_error', '')})"
    elif event.kind == "malformed_packet":
        summary.malformed += 1
        message = f"{who}: skipped a malformed notification ({event.detail.get('hex', '')})"
    if message is not None and notice is not None:
        notice(message)


def _device_specs(devices: Sequence[str], participants: Sequence[str] | None) -> list[DeviceSpec]:
    if participants:
        if len(participants) != len(devices):
            raise ParameterError(
                f"expected one --participant per --device ({len(devices)}), got {len(participants)}"
            )
        names = list(participants)
    else:
        names = [
            _DEFAULT_PARTICIPANTS[k] if k < len(_DEFAULT_PARTICIPANTS) else f"participant{k + 1}"
            for k in range(len(devices))
        ]
    return [DeviceSpec(p, d) for p, d in zip(names, devices, strict=True)]


def run_record(args: argparse.Namespace, *, backend: BackendFactory = _bleak) -> int:
    """``sintonia record``: record until --minutes, Ctrl-C, or every strap gave up.

    Exit status: 0 when beats were recorded (also after Ctrl-C), 1 when none were, 2 on a usage
    error.
    """
    try:
        specs = _device_specs(args.device, args.participant)
        policy = ReconnectPolicy(give_up_after_s=args.give_up)
        if args.minutes is not None and not args.minutes > 0:
            raise ParameterError(f"--minutes must be > 0, got {args.minutes:g}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tty = sys.stderr.isatty()

    def progress(line: str) -> None:
        if tty:
            print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)

    def notice(line: str) -> None:
        print(("\r\x1b[2K" if tty else "") + line, file=sys.stderr, flush=True)

    async def main() -> RecordSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, stop.set)
        try:
            async with backend() as b:
                return await record(
                    specs,
                    args.out,
                    b,
                    minutes=args.minutes,
                    policy=policy,
                    stop=stop,
                    progress=progress,
                    notice=notice,
                )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        summary = asyncio.run(main())
    except SintoniaError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    if tty:
        print(file=sys.stderr)
    total = sum(summary.beats.values())
    per = ", ".join(f"{p} {n}" for p, n in summary.beats.items())
    how = "stopped by Ctrl-C" if summary.interrupted else "done"
    print(
        f"{how}: {total} beats ({per}) in {summary.duration_s:.0f} s written to {summary.path}"
        + (f"; {summary.malformed} malformed notifications skipped" if summary.malformed else ""),
        file=sys.stderr,
    )
    return 0 if total > 0 else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scan`` and ``record`` sub-commands."""
    p = sub.add_parser(
        "scan",
        help="list nearby Bluetooth heart-rate straps",
        description="Scan for devices advertising the Bluetooth Heart Rate Service (0x180D) and "
        "print their name, address and signal strength.",
    )
    p.add_argument(
        "--timeout", type=_positive_float, default=5.0, help="scan duration, s (default 5)"
    )
    p.set_defaults(func=run_scan)

    p = sub.add_parser(
        "record",
        help="record raw beats of one or more straps to a file",
        description="Connect to one or more heart-rate straps (one after the other), record "
        "every beat (RR as received, reconstructed beat time, host receipt time, contact) to a "
        "Sintonia beats CSV readable by 'sintonia analyze', reconnecting after dropouts. "
        "Ctrl-C stops cleanly and keeps every beat.",
    )
    p.add_argument(
        "--device",
        action="append",
        required=True,
        metavar="ADDR_OR_NAME",
        help="strap address or advertised name (see 'sintonia scan'); repeat for several",
    )
    p.add_argument(
        "--participant",
        action="append",
        metavar="CODE",
        help="participant code for each --device, in order (default: patient, therapist)",
    )
    p.add_argument("--out", required=True, help="the beats file to write (appended if it exists)")
    p.add_argument(
        "--minutes", type=float, default=None, help="stop after N minutes (default: Ctrl-C)"
    )
    p.add_argument(
        "--give-up",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="stop trying to (re)connect a strap after S seconds (default 300)",
    )
    p.set_defaults(func=run_record)


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value
