"""REST API: ``GET /api/devices/scan`` with the in-memory BLE twin (``sensor.fake_ble``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sensor.fake_ble import FakeBleWorld, FakeStrap
from server.api import devices
from tests.support.api import make_app

STRAPS = (
    FakeStrap("AA:00:00:00:00:01", "Polar H10 FAR", rssi=-82),
    FakeStrap("AA:00:00:00:00:02", "Polar H10 NEAR", rssi=-41),
    FakeStrap("AA:00:00:00:00:03", "Not a strap", rssi=-30, advertises_hr=False),
)


class _FailingScanner:
    async def discover(self, timeout: float = 5.0, **kwargs: Any) -> Any:
        raise OSError("org.bluez.Error.NotReady: Resource Not Ready")


def _app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)  # server.api.router includes the devices routes


@pytest.fixture
def world_scans() -> list[int]:
    """How many scans each fake world saw (one world per request)."""
    return []


@pytest.fixture
def client(tmp_path: Path, world_scans: list[int]) -> Iterator[TestClient]:
    app = _app(tmp_path)

    async def fake_scanner() -> AsyncIterator[Any]:
        # The fake world lives in the request's event loop, on simulated time.
        async with FakeBleWorld(list(STRAPS)) as world:
            yield world.scanner
            world_scans.append(world.scanner.scans)

    app.dependency_overrides[devices.get_scanner] = fake_scanner
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {app.state.ctx.token}"
        yield c


def test_scan_lists_heart_rate_straps_strongest_first(
    client: TestClient, world_scans: list[int]
) -> None:
    r = client.get("/api/devices/scan", params={"timeout_s": 2})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"address": "AA:00:00:00:00:02", "name": "Polar H10 NEAR", "rssi": -41},
        {"address": "AA:00:00:00:00:01", "name": "Polar H10 FAR", "rssi": -82},
    ]
    assert world_scans == [1]


def test_scan_needs_the_token(client: TestClient) -> None:
    r = client.get("/api/devices/scan", headers={"Authorization": ""})
    assert r.status_code == 401


@pytest.mark.parametrize("timeout_s", [0.0, 0.1, 31.0, -1.0])
def test_scan_duration_is_bounded(client: TestClient, timeout_s: float) -> None:
    r = client.get("/api/devices/scan", params={"timeout_s": timeout_s})
    assert r.status_code == 422
    assert "timeout_s" in r.text


def test_bluetooth_failure_is_503_with_the_reason(tmp_path: Path) -> None:
    app = _app(tmp_path)
    app.dependency_overrides[devices.get_scanner] = _FailingScanner
    with TestClient(app) as c:
        r = c.get(
            "/api/devices/scan",
            params={"timeout_s": 1},
            headers={"Authorization": f"Bearer {app.state.ctx.token}"},
        )
    assert r.status_code == 503
    assert "OSError: org.bluez.Error.NotReady" in r.json()["detail"]
