"""Tests of ``sintonia scan`` and ``sintonia record`` with the fake BLE backend injected."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from sensor.ble import DeviceSpec, FoundStrap, ReconnectPolicy
from sensor.fake_ble import FakeBleWorld, FakeStrap, notifications_from_rr
from sensor.files import read_beats_file, read_rr_file
from sensor.gatt import parse_heart_rate_measurement
from server.cli import build_parser, main
from server.cli.devices import (
    Backend,
    ParticipantStatus,
    format_progress,
    format_scan_table,
    record,
    run_record,
    run_scan,
)

ADDR_A = "AA:00:00:00:00:01"
ADDR_B = "BB:00:00:00:00:02"
T0 = 1000.0


def fake_backend(
    straps: Sequence[FakeStrap], worlds: list[FakeBleWorld] | None = None
) -> Callable[[], contextlib.AbstractAsyncContextManager[Backend]]:
    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[Backend]:
        async with FakeBleWorld(straps) as world:
            if worlds is not None:
                worlds.append(world)
            yield Backend(world.client, world.scanner, world.time, world.sleep)

    return factory


def rr_series(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(700.0, 1100.0, n)


def delivered_raw(strap: FakeStrap) -> list[int]:
    return [v for _, p in strap.delivered_log for v in parse_heart_rate_measurement(p).rr_raw]


def test_scan_table_and_progress_line() -> None:
    table = format_scan_table(
        [FoundStrap(ADDR_B, "Polar H10 77", -50, None), FoundStrap(ADDR_A, None, None, None)]
    )
    assert table.splitlines() == [
        "NAME          ADDRESS            RSSI",
        f"Polar H10 77  {ADDR_B}  -50 dBm",
        f"(no name)     {ADDR_A}  ?",
    ]
    line = format_progress(
        [
            ParticipantStatus("patient", 64, 80, False, 10, "streaming"),
            ParticipantStatus("therapist", None, None, None, 3, "reconnecting"),
        ],
        3725.0,
    )
    assert line == (
        "62:05 | patient: HR 64 bpm, battery 80%, contact NO, 10 beats"
        " | therapist: reconnecting, 3 beats"
    )


def test_scan_command_prints_straps_strongest_first(capsys: pytest.CaptureFixture[str]) -> None:
    straps = [FakeStrap(ADDR_A, "Strap A", rssi=-70), FakeStrap(ADDR_B, "Strap B", rssi=-40)]
    args = build_parser().parse_args(["scan", "--timeout", "2"])
    assert run_scan(args, backend=fake_backend(straps)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ADDRESS", "RSSI"]
    assert [row.split()[2] for row in out[1:]] == [ADDR_B, ADDR_A]


def test_scan_command_nothing_found_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["scan", "--timeout", "1"])
    assert run_scan(args, backend=fake_backend([])) == 1
    assert "no heart-rate straps found in 1 s" in capsys.readouterr().err


def test_scan_command_without_bluetooth_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    class NoAdapter:
        async def discover(self, *args: object, **kwargs: object) -> object:
            raise FileNotFoundError("no such file: /run/dbus/system_bus_socket")

    @contextlib.asynccontextmanager
    async def broken() -> AsyncIterator[Backend]:
        world = FakeBleWorld([])
        yield Backend(world.client, NoAdapter(), world.time, world.sleep)

    args = build_parser().parse_args(["scan"])
    assert run_scan(args, backend=broken) == 2
    assert "Bluetooth scan failed (FileNotFoundError" in capsys.readouterr().err


def test_record_two_straps_for_minutes_writes_an_analyzable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = FakeStrap(
        ADDR_A, "Strap A", notifications=notifications_from_rr(rr_series(400, 1), start_s=T0)
    )
    b = FakeStrap(
        ADDR_B,
        "Strap B",
        notifications=notifications_from_rr(rr_series(400, 2), start_s=T0 + 0.4),
        outages=[(T0 + 60.0, T0 + 70.0)],
    )
    out = tmp_path / "session.csv"
    args = build_parser().parse_args(
        ["record", "--device", "Strap A", "--device", ADDR_B, "--out", str(out), "--minutes", "3"]
    )
    assert run_record(args, backend=fake_backend([a, b])) == 0
    err = capsys.readouterr().err
    assert "patient: connected to Strap A" in err
    assert "therapist: link lost, reconnecting" in err
    assert "done:" in err

    recordings = read_beats_file(out)
    assert set(recordings) == {"patient", "therapist"}
    # Every beat delivered over the air is in the file, once, in order, raw values intact.
    for participant, strap in (("patient", a), ("therapist", b)):
        rec = recordings[participant]
        assert rec.rr_raw is not None
        assert list(rec.rr_raw) == delivered_raw(strap)
        np.testing.assert_array_equal(rec.rr_ms, np.asarray(rec.rr_raw) * 1000.0 / 1024.0)
    # Stopped after 3 simulated minutes: the last beats are no later than that.
    times = recordings["patient"].times_s
    assert times is not None
    assert times[-1] <= T0 + 180.0
    assert len(recordings["patient"].rr_ms) > 150
    # The therapist's outage shows as a jump of the beat times, with numbering unbroken.
    t_times, t_seq = recordings["therapist"].times_s, recordings["therapist"].seq
    assert t_times is not None
    assert t_seq is not None
    assert np.max(np.diff(t_times)) > 9.0
    np.testing.assert_array_equal(t_seq, np.arange(len(t_seq)))
    # The generic reader used by `sintonia analyze` reads it too, and so does the command.
    rec = read_rr_file(out, participant="therapist")
    assert len(rec.rr_ms) == len(recordings["therapist"].rr_ms)
    capsys.readouterr()
    assert main(["analyze", str(out), "--participant", "patient", "--json"]) == 0
    assert '"rmssd_ms"' in capsys.readouterr().out


def test_record_stop_keeps_every_beat_received(tmp_path: Path) -> None:
    a = FakeStrap(ADDR_A, "A", notifications=notifications_from_rr(rr_series(300, 3), start_s=T0))
    out = tmp_path / "beats.csv"

    async def main() -> tuple[int, int]:
        async with fake_backend([a])() as backend:
            stop = asyncio.Event()
            lines: list[str] = []

            def progress(line: str) -> None:
                lines.append(line)
                if "patient: HR" in line and int(line.rsplit(", ", 1)[1].split()[0]) >= 40:
                    stop.set()

            summary = await record(
                [DeviceSpec("patient", ADDR_A)], out, backend, stop=stop, progress=progress
            )
            assert summary.interrupted
            assert lines[-1].endswith(f"{summary.beats['patient']} beats")
            return summary.beats["patient"], len(delivered_raw(a))

    written, delivered = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert written >= 40
    assert written == delivered
    rec = read_beats_file(out)["patient"]
    assert rec.rr_raw is not None
    assert list(rec.rr_raw) == delivered_raw(a)


def test_record_every_strap_gave_up_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = FakeStrap(ADDR_A, "A", outages=[(T0, math.inf)])
    args = build_parser().parse_args(
        ["record", "--device", ADDR_A, "--out", str(tmp_path / "x.csv"), "--give-up", "20"]
    )
    assert run_record(args, backend=fake_backend([gone])) == 1
    err = capsys.readouterr().err
    assert "patient: gave up" in err
    assert "(previous: DeviceError" in err  # retries are reported with the reason
    assert "done: 0 beats" in err


def test_record_participant_count_must_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(
        [
            "record",
            "--device",
            ADDR_A,
            "--device",
            ADDR_B,
            "--participant",
            "P01",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert run_record(args, backend=fake_backend([])) == 2
    assert "one --participant per --device (2), got 1" in capsys.readouterr().err


def test_record_ctrl_c_stops_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not hasattr(signal, "SIGINT") or os.name != "posix":
        pytest.skip("needs POSIX signals")
    a = FakeStrap(ADDR_A, "A", notifications=notifications_from_rr(rr_series(300, 4), start_s=T0))
    worlds: list[FakeBleWorld] = []
    base = fake_backend([a], worlds)

    @contextlib.asynccontextmanager
    async def with_ctrl_c() -> AsyncIterator[Backend]:
        async with base() as backend:
            # The user presses Ctrl-C 30 simulated seconds in.
            worlds[0].call_at(T0 + 30.0, lambda: os.kill(os.getpid(), signal.SIGINT))
            yield backend

    out = tmp_path / "beats.csv"
    args = build_parser().parse_args(
        ["record", "--device", ADDR_A, "--participant", "P07", "--out", str(out)]
    )
    assert run_record(args, backend=with_ctrl_c) == 0
    assert "stopped by Ctrl-C" in capsys.readouterr().err
    rec = read_beats_file(out)["P07"]
    assert rec.rr_raw is not None
    assert list(rec.rr_raw) == delivered_raw(a)
    assert 20 <= len(rec.rr_raw) <= 40  # about 30 s of beats at 55-85 bpm


def test_policy_default_give_up_is_wired() -> None:
    args = build_parser().parse_args(["record", "--device", "x", "--out", "y"])
    assert args.give_up == ReconnectPolicy().give_up_after_s
    assert args.minutes is None


def test_record_refuses_to_append_to_a_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n", encoding="utf-8")
    args = build_parser().parse_args(["record", "--device", ADDR_A, "--out", str(out)])
    assert run_record(args, backend=fake_backend([FakeStrap(ADDR_A)])) == 2
    assert "refusing to append" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "my notes\n"


# ------------------------------------------- issue 13, item 11: no adapter, said once, no retry


def test_bluetooth_problem_names_what_to_check(tmp_path: Path) -> None:
    from server.cli.devices import bluetooth_problem

    none = tmp_path / "sys-bluetooth"
    none.mkdir()
    msg = bluetooth_problem(platform="linux", sys_bluetooth=none)
    assert msg is not None
    assert msg.startswith("no Bluetooth adapter found")
    assert "rfkill" in msg
    (none / "hci0").mkdir()
    no_dbus = bluetooth_problem(
        platform="linux", sys_bluetooth=none, dbus_socket=tmp_path / "no-socket"
    )
    assert no_dbus is not None
    assert "D-Bus is not running" in no_dbus
    socket = tmp_path / "socket"
    socket.touch()
    assert bluetooth_problem(platform="linux", sys_bluetooth=none, dbus_socket=socket) is None
    assert bluetooth_problem(platform="win32", sys_bluetooth=tmp_path / "nothing") is None


@pytest.mark.parametrize("command", ["scan", "record"])
def test_no_adapter_is_said_at_once_without_retrying(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the real (bleak) backend on a computer without an adapter: before, scan printed
    # "FileNotFoundError: [Errno 2]" and record retried for 5 minutes
    import sys

    import server.cli.devices as devices

    monkeypatch.setattr(devices, "SYS_BLUETOOTH", tmp_path / "no-adapters")
    monkeypatch.setattr(sys, "platform", "linux")

    def no_bleak() -> object:
        raise AssertionError("bleak must not be reached without an adapter")

    monkeypatch.setattr(devices, "bleak_backend", no_bleak)
    out = tmp_path / "beats.csv"
    argv = ["scan"] if command == "scan" else ["record", "--device", ADDR_A, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: no Bluetooth adapter found")
    assert "Errno" not in err
    assert "FileNotFoundError" not in err
    assert not out.exists()
