"""``sintonia relay --join URL (--device ADDRESS | --simulate | --replay FILE)``: a patient's
strap to a remote session, from a laptop without Web Bluetooth.

The relay reads a strap through bleak (:class:`sensor.ble.BleSource`), plays the simulator
(:class:`sensor.simulator.SimulatedSource`) as the strap, or replays a recording
(:class:`sensor.replay.ReplaySource`: any file :func:`sensor.files.read_rr_file` reads, shifted to
start now, at ``--speed`` times real time; it stops when the file ends), and speaks the ingest
protocol of :mod:`server.remote.protocol` to the server of the join link: every batch of beats
becomes one ``beats`` message (at most 64 beats) with the next sequence number, kept in memory until
the server acknowledges it, and resent in order after a reconnection (the server stores a resent
message once). A ping is sent on connecting and every :data:`PING_EVERY_S` seconds. Each run uses a
new random stream id, so a restarted relay never reuses the sequence numbers of an earlier one. It
stops with exit code 2 when the server refuses the link for good (unknown, expired or revoked link,
no storage consent), 0 after ``--duration`` seconds once everything sent is acknowledged (or
``--drain-timeout`` passed: exit code 1, with the count of beats left). The last line on stdout is a
JSON summary. Over ``https://`` join links the relay speaks ``wss://``, verifying the server's
certificate against the system's authorities or ``--cafile`` (a clinic's own or a self-signed
certificate)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import ssl
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from hrv.errors import ParameterError, SintoniaError
from sensor.types import BeatBatch, BeatSource
from server.remote.protocol import (
    CLOSE_EXPIRED,
    CLOSE_NO_CONSENT,
    CLOSE_NOT_FOUND,
    CLOSE_REVOKED,
    CLOSE_UNKNOWN_TOKEN,
    MAX_BEATS_PER_MESSAGE,
)

__all__ = [
    "PING_EVERY_S",
    "Relay",
    "RelayStats",
    "UnexpectedServerError",
    "ingest_url",
    "register",
    "run",
]

_log = logging.getLogger(__name__)


class UnexpectedServerError(SintoniaError, OSError):
    """The server answered outside the ingest protocol: the relay reconnects, as on a network
    error."""


#: Ping period, s (clock offset and drift on the server).
PING_EVERY_S: Final[float] = 5.0
#: Reconnection back-off, first and longest wait, s.
_BACKOFF_S: Final[tuple[float, float]] = (0.2, 5.0)
#: Close codes after which reconnecting cannot help.
_FATAL: Final[frozenset[int]] = frozenset(
    {CLOSE_UNKNOWN_TOKEN, CLOSE_NO_CONSENT, CLOSE_NOT_FOUND, CLOSE_EXPIRED, CLOSE_REVOKED}
)


def ingest_url(join_url: str, stream: str) -> str:
    """The ingest WebSocket URL of a join link (``http(s)://host/join/TOKEN``).

    Examples
    --------
    >>> ingest_url("http://127.0.0.1:8765/join/abc", "s1")
    'ws://127.0.0.1:8765/ws/ingest?join=abc&stream=s1'
    """
    parts = urlsplit(join_url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) < 2 or segments[-2] != "join":
        raise ParameterError(f"expected a join link http(s)://HOST/join/TOKEN, got {join_url!r}")
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = f"join={segments[-1]}&stream={stream}"
    return urlunsplit((scheme, parts.netloc, "/ws/ingest", query, ""))


@dataclass
class RelayStats:
    """Counters of a relay run."""

    beats_read: int = 0
    beats_acked: int = 0
    messages_sent: int = 0
    resent: int = 0
    connections: int = 0
    last_close_code: int | None = None
    offset_s: float | None = None
    min_rtt_s: float | None = None
    ack_delays_s: list[float] = field(default_factory=list)


class Relay:
    """Buffer beats as protocol messages and send them until acknowledged.

    Parameters
    ----------
    url : str
        The ingest WebSocket URL (:func:`ingest_url`).
    ssl_context : ssl.SSLContext, optional
        For ``wss://``: the certificates to trust (default: the system's).
    """

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.pending: OrderedDict[int, tuple[str, int, float]] = OrderedDict()  # seq -> msg
        self.stats = RelayStats()
        self.fatal: int | None = None
        self._next_seq = 0
        self._closing = False
        self._ws: Any = None
        self._new = asyncio.Event()
        self._all_acked = asyncio.Event()
        self._all_acked.set()

    def add(self, batch: BeatBatch) -> None:
        """Queue a batch of beats (split into messages of at most 64 beats)."""
        rr = batch.rr_ms.tolist()
        times = batch.beat_times_s.tolist()
        for start in range(0, len(rr), MAX_BEATS_PER_MESSAGE):
            seq = self._next_seq
            self._next_seq += 1
            chunk = rr[start : start + MAX_BEATS_PER_MESSAGE]
            msg = {
                "type": "beats",
                "seq": seq,
                "rr_ms": chunk,
                "t_device_s": times[start : start + MAX_BEATS_PER_MESSAGE],
                "contact": batch.contact,
            }
            if batch.gap_before and start == 0:
                msg["gap_before"] = True
            self.pending[seq] = (json.dumps(msg), len(chunk), time.time())
            self.stats.beats_read += len(chunk)
        self._all_acked.clear()
        self._new.set()

    @property
    def buffered_beats(self) -> int:
        """Beats read and not acknowledged yet."""
        return sum(n for _, n, _ in self.pending.values())

    async def wait_acked(self, timeout_s: float) -> bool:
        """Wait until every queued message is acknowledged."""
        try:
            await asyncio.wait_for(self._all_acked.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Connect, send, reconnect with back-off, until a fatal close or cancellation."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        delay = _BACKOFF_S[0]
        while self.fatal is None and not self.closing:
            try:
                tls: dict[str, Any] = {} if self.ssl_context is None else {"ssl": self.ssl_context}
                async with connect(self.url, open_timeout=10, max_size=2**20, **tls) as ws:
                    self.stats.connections += 1
                    delay = _BACKOFF_S[0]
                    self._ws = ws
                    try:
                        await self._session(ws)
                    finally:
                        self._ws = None
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                self.stats.last_close_code = code
                if code in _FATAL:
                    self.fatal = code
                    _log.error(
                        "the server refused the join link (close code %s): %s",
                        code,
                        exc.rcvd.reason if exc.rcvd else "",
                    )
                    return
                _log.warning("connection closed (%s); reconnecting", code)
            except (OSError, TimeoutError) as exc:
                _log.warning("cannot reach the server (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, _BACKOFF_S[1])

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing

    async def close(self) -> None:
        """Stop reconnecting and close the connection normally (code 1000)."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000, "relay done")

    async def _session(self, ws: Any) -> None:
        hello = json.loads(await ws.recv())
        if hello.get("type") != "hello":
            raise UnexpectedServerError(f"expected a hello message, got {hello!r}")
        await ws.send(json.dumps({"type": "ping", "t_device_s": time.time()}))
        sent_up_to = -1
        for seq, (text, _, _) in list(self.pending.items()):  # resend what is unacknowledged
            await ws.send(text)
            self.stats.resent += 1
            sent_up_to = seq
        receiver = asyncio.create_task(self._receive(ws))
        try:
            next_ping = time.monotonic() + PING_EVERY_S
            while not receiver.done():
                self._new.clear()
                for seq, (text, _, _) in list(self.pending.items()):
                    if seq > sent_up_to:
                        await ws.send(text)
                        self.stats.messages_sent += 1
                        sent_up_to = seq
                if time.monotonic() >= next_ping:
                    ping: dict[str, Any] = {
                        "type": "ping",
                        "t_device_s": time.time(),
                        "buffered": self.buffered_beats,
                    }
                    if self.stats.min_rtt_s is not None:
                        ping["rtt_s"] = self.stats.min_rtt_s
                    await ws.send(json.dumps(ping))
                    next_ping = time.monotonic() + PING_EVERY_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new.wait(), 0.5)
            receiver.result()
        finally:
            receiver.cancel()
            with contextlib.suppress(BaseException):
                await receiver

    async def _receive(self, ws: Any) -> None:
        async for raw in ws:
            msg = json.loads(raw)
            if msg.get("type") == "ack":
                item = self.pending.pop(int(msg["seq"]), None)
                if item is not None:
                    self.stats.beats_acked += item[1]
                    self.stats.ack_delays_s.append(time.time() - item[2])
                if not self.pending:
                    self._all_acked.set()
            elif msg.get("type") == "pong":
                self.stats.offset_s = msg.get("offset_s")
                sent = msg.get("t_device_s")
                if isinstance(sent, int | float):
                    rtt = time.time() - float(sent)
                    if rtt >= 0 and (self.stats.min_rtt_s is None or rtt < self.stats.min_rtt_s):
                        self.stats.min_rtt_s = rtt


def _source(args: argparse.Namespace) -> BeatSource:
    if args.replay is not None:
        from sensor.replay import ReplaySource

        speed = None if args.speed == 0 else args.speed
        return ReplaySource(args.replay, "patient", speed=speed, start_time_s=time.time())
    if args.simulate:
        from sensor.simulator import Scenario, SimulatedSource

        duration = args.duration if args.duration else 3600.0
        return SimulatedSource(
            Scenario.calm(duration + 10.0), seed=args.seed, roles=("patient",), speed=1.0
        )
    from sensor.ble import BleSource, DeviceSpec, bleak_backend

    client_factory, scanner = bleak_backend()
    return BleSource(
        [DeviceSpec("patient", args.device)], client_factory=client_factory, scanner=scanner
    )


async def _main(args: argparse.Namespace) -> int:
    context = None
    if args.cafile is not None:
        context = ssl.create_default_context(cafile=str(args.cafile))
    relay = Relay(ingest_url(args.join, secrets.token_hex(8)), context)
    source = _source(args)
    sender = asyncio.create_task(relay.run())

    async def read() -> None:
        async for item in source:
            if isinstance(item, BeatBatch) and len(item):
                relay.add(item)

    reader = asyncio.create_task(read())
    deadline = None if not args.duration else time.monotonic() + args.duration
    code = 0
    try:
        while not sender.done() and not reader.done():
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        await source.aclose()
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        if relay.fatal is not None:
            code = 2
        elif not await relay.wait_acked(args.drain_timeout):
            code = 1
        await relay.close()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(sender), 5.0)
    finally:
        sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
    s = relay.stats
    delays = sorted(s.ack_delays_s)
    summary = {
        "beats_read": s.beats_read,
        "beats_acked": s.beats_acked,
        "beats_buffered": relay.buffered_beats,
        "messages_sent": s.messages_sent,
        "messages_resent": s.resent,
        "connections": s.connections,
        "close_code": relay.fatal,
        "clock_offset_s": s.offset_s,
        "min_rtt_s": s.min_rtt_s,
        "ack_delay_p50_s": delays[len(delays) // 2] if delays else None,
    }
    print(json.dumps(summary), flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    """Run the relay; returns the exit code (0 done, 1 beats left unacknowledged, 2 refused)."""
    if sum((bool(args.simulate), bool(args.device), args.replay is not None)) != 1:
        print("give exactly one of --device ADDRESS, --simulate or --replay FILE", file=sys.stderr)
        return 2
    if args.speed < 0:
        print("--speed must be >= 0 (0: as fast as possible)", file=sys.stderr)
        return 2
    try:
        ingest_url(args.join, "x")
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return asyncio.run(_main(args))


def register(sub: Any) -> None:
    """Add the ``relay`` sub-command."""
    parser = sub.add_parser(
        "relay",
        help="send a strap's beats to a remote session (join link) without Web Bluetooth",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--join", required=True, metavar="URL", help="the join link")
    parser.add_argument("--device", metavar="ADDRESS", help="BLE address or name of the strap")
    parser.add_argument(
        "--simulate", action="store_true", help="play the simulator as the strap (no hardware)"
    )
    parser.add_argument(
        "--replay", type=Path, metavar="FILE", help="replay a recording as the strap (RR file)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="replay speed, times real time (0: as fast as possible; default 1). Beat times keep "
        "the recording's pace, so at any other speed they run ahead of the session's clock and "
        "its review covers only the part within the session",
    )
    parser.add_argument(
        "--cafile", type=Path, metavar="PEM", help="trust this certificate (self-signed server)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument(
        "--duration", type=float, default=0.0, metavar="S", help="stop after S seconds (0: never)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="at the end, wait at most S seconds for the last acknowledgements",
    )
    parser.set_defaults(func=run)
