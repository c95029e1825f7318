"""The remote device clock (issue 15): offset, drift and uncertainty from ping/pong, saved per join
link, reported by the review's signal quality, and the synchrony lag's uncertainty from it.

The uncertainty bound (``rtt_min + |drift| * span``, :class:`server.remote.protocol.ClockOffset`)
is checked against a simulated device clock with a known offset and drift and random one-way
delays: the true offset at the last ping lies within the bound of the estimate, for many seeds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dashboard.phases import DEFAULT_FIRST_SESSION
from dashboard.report import render_report
from dashboard.review import (
    ClockEstimate,
    ParticipantBeats,
    SessionInputs,
    lag_uncertainty,
    review_session,
)
from sensor.simulator import Scenario, simulate_session
from server.app import create_app
from server.remote.clock import session_clocks
from server.remote.protocol import ClockOffset, PingIn, ProtocolError, parse_client_message
from server.review_data import load_session_inputs
from server.settings import ServerSettings
from server.storage import StorageSettings


@pytest.mark.parametrize("seed", range(20))
def test_the_uncertainty_bounds_the_true_offset(seed: int) -> None:
    rng = np.random.default_rng(seed)
    offset0 = rng.uniform(-30.0, 30.0)  # server minus device at t = 0, s
    drift = rng.uniform(-80.0, 80.0) * 1e-6  # crystal clocks: tens of ppm
    clock = ClockOffset()
    t = 1_000_000.0
    for _ in range(240):  # a ping every 5 s for 20 minutes
        t += 5.0
        up = 0.002 + rng.exponential(0.02)  # one-way delays: at least 2 ms, tail of tens
        down = 0.002 + rng.exponential(0.02)
        true = offset0 + drift * (t - 1_000_000.0)
        device_sent = t - true  # the device's clock reading when it sent the ping
        clock.add(device_sent, t + up, rtt_s=up + down)
    true_now = offset0 + drift * (t - 1_000_000.0)
    assert clock.offset_s is not None
    assert clock.uncertainty_s is not None
    # the drift is the slope between the minima of the two halves: their delays (a few ms)
    # over their separation (minutes) make it good to about ten ppm, not better
    assert clock.drift_ppm == pytest.approx(drift * 1e6, abs=20.0)
    assert abs(clock.offset_s - true_now) <= clock.uncertainty_s
    # the bound is not vacuous: of the order of the shortest round trip plus the drift term
    assert clock.uncertainty_s < 0.05 + abs(drift) * 1200.0 * 1.2


def test_ping_carries_the_round_trip() -> None:
    assert parse_client_message('{"type": "ping", "t_device_s": 5, "rtt_s": 0.012}') == PingIn(
        5.0, None, 0.012
    )
    for bad in ("-0.1", "61", '"fast"', "true"):
        with pytest.raises(ProtocolError):
            parse_client_message('{"type": "ping", "t_device_s": 5, "rtt_s": ' + bad + "}")
    c = ClockOffset()
    c.add(10.0, 12.0)
    assert c.uncertainty_s is None  # no round trip reported: unknown, not zero


def _client(tmp_path: Path) -> TestClient:
    settings = ServerSettings(storage=StorageSettings(tmp_path), allowed_hosts=("testserver",))
    return TestClient(create_app(settings), client=("127.0.0.1", 50000))  # a loopback peer


def test_clock_saved_per_link_and_reported_by_the_review(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        store = ctx.store
        patient = store.create_participant("P-CLK", "patient")
        session = store.create_session(DEFAULT_FIRST_SESSION.to_dict())
        r = client.post(
            f"/api/sessions/{session.id}/join-links",
            json={"participant_id": patient.id, "expires_in_s": 3600},
            headers={"Authorization": f"Bearer {ctx.token}"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        for purpose in ("storage", "review"):
            c = client.post(
                f"/api/join/{token}/consents", json={"purpose": purpose, "granted": True}
            )
            assert c.status_code == 200, c.text
        skew = 12.5  # the device's clock is 12.5 s behind the server's
        with client.websocket_connect(f"/ws/ingest?join={token}&stream=s1") as ws:
            assert json.loads(ws.receive_text())["type"] == "hello"
            for rtt in (0.030, 0.011, 0.020):
                ping = {"type": "ping", "t_device_s": time.time() - skew, "rtt_s": rtt}
                ws.send_text(json.dumps(ping))
                pong = json.loads(ws.receive_text())
                assert pong["type"] == "pong"
            t0 = time.time() - skew
            rr = [800.0 + 5 * i for i in range(40)]
            times = list(t0 + np.cumsum(rr) / 1000.0)
            msg = {"type": "beats", "seq": 0, "rr_ms": rr, "t_device_s": times, "contact": True}
            ws.send_text(json.dumps(msg))
            while json.loads(ws.receive_text())["type"] != "ack":
                pass
        links = client.get(
            f"/api/sessions/{session.id}/join-links",
            headers={"Authorization": f"Bearer {ctx.token}"},
        ).json()
        assert links[0]["quality"]["clock_uncertainty_s"] == pytest.approx(0.011)
        saved = session_clocks(store, session.id)[patient.id]
        assert saved.samples == 3
        assert saved.min_rtt_s == pytest.approx(0.011)
        assert saved.offset_s is not None
        assert skew <= saved.offset_s < skew + 0.5
        # no drift from 3 pings within a second; the bound is then the shortest round trip
        assert saved.drift_ppm is None
        assert saved.uncertainty_s == pytest.approx(0.011)
        inputs = load_session_inputs(store, session.id)
    (p,) = inputs.participants
    assert p.clock is not None
    assert p.clock.source == "remote"
    assert p.clock.offset_s == pytest.approx(saved.offset_s)
    assert p.clock.uncertainty_s == pytest.approx(0.011)
    # the beats were placed on the server's clock with the offset (device times + offset)
    assert float(p.time_s[-1] - p.time_s[0]) == pytest.approx((times[-1] - times[0]), abs=1e-6)
    review = review_session(inputs)
    (person,) = review.participants
    assert person.quality.clock == p.clock
    html = render_report(review)
    assert "Clock offset (s)" in html
    assert f"{saved.offset_s:.3f}" in html


def test_lag_uncertainty_adds_the_two_clocks() -> None:
    host = ClockEstimate.host()
    remote = ClockEstimate("remote", 3.2, 20.0, 0.04, 50, "remote")
    unknown = ClockEstimate("remote", 3.2, None, None, 2, "remote")
    assert lag_uncertainty(host, None)[0] == 0.0
    assert lag_uncertainty(remote, host)[0] == pytest.approx(0.04)
    assert lag_uncertainty(remote, remote)[0] == pytest.approx(0.08)
    assert lag_uncertainty(unknown, host)[0] is None


def _dyad(minutes: float) -> SessionInputs:
    sims = simulate_session(Scenario.first_session(), seed=3)
    end = minutes * 60.0
    parts = []
    for i, role in enumerate(("patient", "therapist"), start=1):
        s = sims[role]
        keep = s.beat_times_s < end
        gap = np.zeros(int(keep.sum()), dtype=bool)
        gap[0] = True
        parts.append(
            ParticipantBeats(
                i, f"{role[0].upper()}-{i}", role, s.beat_times_s[keep], s.rr_ms[keep], gap
            )
        )
    return SessionInputs(0, None, None, end, participants=tuple(parts))


def test_synchrony_lag_is_reported_with_the_clock_uncertainty() -> None:
    base = _dyad(12.0)
    local = review_session(base).synchrony
    assert local is not None
    assert local.wlcc_profile_lag_s is not None
    assert local.lag_uncertainty_s == 0.0
    # the patient at home, with a clock known to +/- 10 s: no lag within +/-5 s can be told
    wide = ClockEstimate("remote", 1.0, None, 10.0, 10, "remote")
    patient, therapist = base.participants
    remote = dataclasses.replace(
        base, participants=(dataclasses.replace(patient, clock=wide), therapist)
    )
    sync = review_session(remote).synchrony
    assert sync is not None
    assert sync.lag_uncertainty_s == pytest.approx(10.0)
    assert sync.lag_within_uncertainty
    assert sync.leader == "none"
    assert sync.wlcc_profile_lag_s == local.wlcc_profile_lag_s  # the lag itself is unchanged
    assert "± 10.000 s" in render_report(review_session(remote))
