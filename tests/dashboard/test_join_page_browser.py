"""The patient's page of a remote session in real Chromium against a real ``sintonia serve``.

Debian's Chromium (``/usr/bin/chromium``, launched with ``--enable-features=WebBluetooth``) on
127.0.0.1 (a secure origin). Checked: the page's 0x2A37 parser (``hrm.js``) decodes the shared
vector file exactly as :mod:`sensor.gatt` does (``tests/sensor/test_gatt_vectors.py``), the
patient gives and withdraws consents themself (recorded as given by the participant), no request
leaves the machine and no page error occurs; and a whole remote session with emulated Bluetooth
(CDP ``BluetoothEmulation`` on the browser session, ``DeviceAccess`` on the page's): the page's
real ``requestDevice``, connect, discovery and ``startNotifications`` run, ``readValue()`` answered
with a 0x2A37 payload fires the notification handler, the strap is disconnected and reconnects by
itself, and the beats are stored once each (gaps marked only where the strap was off) and reach
the therapist's live stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


from tests.support import e2e  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("join-page") / "data"
    with e2e.running_server(["serve", "--port", "0"], data_dir) as srv:
        yield srv


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--enable-features=WebBluetooth"]
        )
        try:
            yield b
        finally:
            b.close()


def _link(server: Any, code: str) -> tuple[int, int, str]:
    with server.client() as api:
        p = api.post("/api/participants", json={"code": code, "role": "patient"}).json()
        sid = int(api.post("/api/sessions", json={"label": "remote"}).json()["id"])
        r = api.post(
            f"/api/sessions/{sid}/join-links",
            json={"participant_id": p["id"], "expires_in_s": 3600},
        )
        assert r.status_code == 201, r.text
        return sid, int(p["id"]), str(r.json()["url"])


def _page(browser: Any, errors: list[str], foreign: list[str]) -> Any:
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r: Any) -> None:
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:")):
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def test_parser_matches_the_shared_vectors(server: Any, browser: Any) -> None:
    _, _, url = _link(server, "P-VEC")
    errors: list[str] = []
    foreign: list[str] = []
    page = _page(browser, errors, foreign)
    page.goto(url, wait_until="load")
    result = page.evaluate(
        """async () => {
        const v = await (await fetch('/static/hrm_vectors.json')).json();
        const out = {valid: [], malformed: []};
        for (const c of v.valid) {
          const m = window.SintoniaHRM.parse(window.SintoniaHRM.fromHex(c.hex));
          out.valid.push([c, m]);
        }
        for (const h of v.malformed) {
          const H = window.SintoniaHRM;
          try { H.parse(H.fromHex(h)); out.malformed.push(false); }
          catch (e) { out.malformed.push(true); }
        }
        return out;
      }"""
    )
    assert len(result["valid"]) >= 8
    for case, got in result["valid"]:
        for key in ("heart_rate_bpm", "contact", "energy_expended_kj", "rr_raw"):
            assert got[key] == case[key], (case["hex"], key)
        assert got["rr_ms"] == [r * 1000.0 / 1024.0 for r in case["rr_raw"]]
    assert result["malformed"]
    assert all(result["malformed"])
    assert not errors
    assert not foreign


def test_patient_gives_and_withdraws_consent_on_the_page(server: Any, browser: Any) -> None:
    _, pid, url = _link(server, "P-CONSENT")
    errors: list[str] = []
    foreign: list[str] = []
    page = _page(browser, errors, foreign)
    page.goto(url, wait_until="load")
    for purpose in ("storage", "live_display"):
        item = page.locator(f'li[data-purpose="{purpose}"]')
        item.locator("button.give").click()
        item.locator(".consent-state").filter(has_text="You agreed.").wait_for()
    with server.client() as api:
        consents = api.get(f"/api/participants/{pid}/consents").json()
    active = {c["purpose"] for c in consents if c["revoked_at_s"] is None}
    assert active == {"storage", "live_display"}
    assert all(c["recorded_by"].startswith("participant:") for c in consents)
    page.locator('li[data-purpose="live_display"] button.refuse').click()
    page.locator('li[data-purpose="live_display"] .consent-state').filter(
        has_text="Not agreed."
    ).wait_for()
    with server.client() as api:
        consents = api.get(f"/api/participants/{pid}/consents").json()
    assert {c["purpose"] for c in consents if c["revoked_at_s"] is None} == {"storage"}
    # the upload connects once storage is agreed (the server's hello arrives)
    page.locator("#st-upload").filter(has_text="everything stored").wait_for()
    assert page.evaluate("typeof navigator.bluetooth") == "object"
    assert not errors, errors
    assert not foreign


HEART_RATE = "0000180d-0000-1000-8000-00805f9b34fb"
HRM = "00002a37-0000-1000-8000-00805f9b34fb"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
STRAP = "09:09:09:09:09:09"
#: 0x2A37 payload: contact, 70 bpm, RR 906 and 836 (1/1024 s), from the shared vector file.
PAYLOAD = bytes.fromhex("16 46 8a 03 44 03")


async def _emulated_session(server: Any, url: str, sid: int) -> dict[str, Any]:
    import asyncio
    import base64
    import json

    from playwright.async_api import async_playwright
    from websockets.asyncio.client import connect

    b64 = base64.b64encode(PAYLOAD).decode()
    trace: list[float] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--enable-features=WebBluetooth"]
        )
        try:
            bt = await browser.new_browser_cdp_session()
            patient = await (await browser.new_context()).new_page()
            errors: list[str] = []
            patient.on("pageerror", lambda e: errors.append(str(e)))
            access = await patient.context.new_cdp_session(patient)
            await bt.send("BluetoothEmulation.enable", {"state": "powered-on", "leSupported": True})
            await bt.send(
                "BluetoothEmulation.simulatePreconnectedPeripheral",
                {
                    "address": STRAP,
                    "name": "Strap",
                    "manufacturerData": [],
                    "knownServiceUuids": [HEART_RATE],
                },
            )

            async def add_gatt() -> None:
                # the emulated peripheral loses its services with a GATT disconnection
                svc = await bt.send(
                    "BluetoothEmulation.addService", {"address": STRAP, "serviceUuid": HEART_RATE}
                )
                ch = await bt.send(
                    "BluetoothEmulation.addCharacteristic",
                    {
                        "serviceId": svc["serviceId"],
                        "characteristicUuid": HRM,
                        "properties": {"read": True, "notify": True},
                    },
                )
                await bt.send(
                    "BluetoothEmulation.addDescriptor",
                    {"characteristicId": ch["characteristicId"], "descriptorUuid": CCCD},
                )

            await add_gatt()
            pending: set[asyncio.Future[Any]] = set()
            connections: list[str] = []

            def later(coro: Any) -> None:
                fut = asyncio.ensure_future(coro)
                pending.add(fut)
                fut.add_done_callback(pending.discard)

            def gatt(ev: dict[str, Any]) -> None:
                connections.append(ev["type"])
                later(
                    bt.send(
                        "BluetoothEmulation.simulateGATTOperationResponse",
                        {"address": ev["address"], "type": ev["type"], "code": 0},
                    )
                )

            def characteristic(ev: dict[str, Any]) -> None:
                args = {"characteristicId": ev["characteristicId"], "type": ev["type"], "code": 0}
                if ev["type"] == "read":
                    args["data"] = b64
                later(bt.send("BluetoothEmulation.simulateCharacteristicOperationResponse", args))

            def descriptor(ev: dict[str, Any]) -> None:
                args = {"descriptorId": ev["descriptorId"], "type": ev["type"], "code": 0}
                if ev["type"] == "read":
                    args["data"] = base64.b64encode(b"\x01\x00").decode()
                later(bt.send("BluetoothEmulation.simulateDescriptorOperationResponse", args))

            prompts: set[str] = set()

            def prompted(ev: dict[str, Any]) -> None:
                if ev["id"] not in prompts:  # the event can come twice for one prompt
                    prompts.add(ev["id"])
                    later(
                        access.send(
                            "DeviceAccess.selectPrompt",
                            {"id": ev["id"], "deviceId": ev["devices"][0]["id"]},
                        )
                    )

            bt.on("BluetoothEmulation.gattOperationReceived", gatt)
            bt.on("BluetoothEmulation.characteristicOperationReceived", characteristic)
            bt.on("BluetoothEmulation.descriptorOperationReceived", descriptor)
            await access.send("DeviceAccess.enable")
            access.on("DeviceAccess.deviceRequestPrompted", prompted)

            await patient.goto(url)
            for purpose in ("storage", "live_display"):
                item = patient.locator(f'li[data-purpose="{purpose}"]')
                await item.locator("button.give").click()
                await item.locator(".consent-state").filter(has_text="You agreed.").wait_for()
            with server.client() as api:
                assert api.post(f"/api/sessions/{sid}/start").status_code in (200, 201)
            ws_url = f"ws://127.0.0.1:{server.port}/ws/sessions/{sid}?token={server.token}"
            async with connect(ws_url) as therapist:

                async def watch() -> None:
                    async for raw in therapist:
                        msg = json.loads(raw)
                        if msg.get("type") in ("beats", "history"):
                            for p in msg.get("participants", msg.get("beats", [])):
                                if isinstance(p, dict):
                                    trace.extend(p.get("rr_ms", []))

                watcher = asyncio.create_task(watch())
                await patient.locator("#connect").click()
                strap = patient.locator("#st-strap")
                await strap.filter(has_text="connected (").wait_for(timeout=20_000)
                for _ in range(4):
                    await patient.evaluate("window.SintoniaJoin.characteristic.readValue()")
                await bt.send("BluetoothEmulation.simulateGATTDisconnection", {"address": STRAP})
                await add_gatt()
                await strap.filter(has_text="connected (").wait_for(timeout=20_000)
                for _ in range(4):
                    await patient.evaluate("window.SintoniaJoin.characteristic.readValue()")
                upload = patient.locator("#st-upload")
                await upload.filter(has_text="everything stored").wait_for(timeout=20_000)
                # the therapist's live page, in another browser context
                live = await (await browser.new_context()).new_page()
                live.on("pageerror", lambda e: errors.append("live: " + str(e)))
                await live.goto(
                    f"http://127.0.0.1:{server.port}/sessions/{sid}/live?token={server.token}"
                )
                quality = live.locator("#remote-link-list .link-quality")
                await quality.filter(has_text="connected").wait_for(timeout=20_000)
                result_quality = await quality.text_content()
                await live.wait_for_function(
                    """() => (document.getElementById('chart').data || []).some(
                        t => t.name === 'P-BLE (patient) HR'
                          && t.x.filter(v => v !== null).length > 0)""",
                    timeout=20_000,
                )
                await asyncio.sleep(2.0)
                watcher.cancel()
            return {
                "errors": errors,
                "connections": connections,
                "trace": trace,
                "quality": result_quality,
            }
        finally:
            await browser.close()


def test_remote_session_with_emulated_bluetooth(server: Any) -> None:
    import asyncio

    pytest.importorskip("playwright.async_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    sid, _, url = _link(server, "P-BLE")
    result = asyncio.run(asyncio.wait_for(_emulated_session(server, url, sid), 120))
    assert not result["errors"]
    assert result["connections"].count("connection") >= 2  # connected, dropped, reconnected
    with server.client() as api:
        beats = e2e.all_beats(api, sid)
    # 8 reads of a payload with 2 RR each: 16 beats, stored once each, RR exact (1/1024 s)
    assert len(beats["rr_ms"]) == 16
    assert len(set(zip(beats["device"], beats["seq"], strict=True))) == 16
    assert sorted(set(beats["rr_ms"])) == [836 * 1000 / 1024, 906 * 1000 / 1024]
    # the gap is marked where the strap was off: the first beat and the first after reconnecting
    assert sum(bool(g) for g in beats["gap_before"]) == 2
    # beats on the therapist's live stream (the engine holds the newest two back as look-ahead)
    assert len(result["trace"]) >= 4
    assert set(result["trace"]) <= {836 * 1000 / 1024, 906 * 1000 / 1024}
    # the live page shows the link's quality (and the beats on its HR trace, waited for above)
    assert "upload delay" in result["quality"]
    assert "clock offset" in result["quality"]
