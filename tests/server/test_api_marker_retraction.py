"""Markers: undo from the live page, retraction and correction later; the original always stays.

Issue 13: one stray key wrote "Dissociation observed" into the record for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.api.control import UNDO_WINDOW_S
from tests.support.api import api_client, ctx_of, live_dyad


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def _audit(client: TestClient, marker_id: int) -> list[tuple[str, dict[str, object]]]:
    entries = ctx_of(client).store.list_audit(object_type="marker", object_id=str(marker_id))
    return [(e.action, e.detail) for e in entries]


def test_undo_keeps_the_marker_marked_retracted_and_audited(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    hub = ctx_of(client).hub
    m = client.post(f"/api/sessions/{sid}/markers", json={"type": "dissociation_observed"}).json()
    r = client.post(f"/api/sessions/{sid}/markers/{m['id']}/undo")
    assert r.status_code == 200, r.text
    out = r.json()["retracted"]
    assert out["retracted"] is True
    assert out["retraction_reason"] == "undone from the live page"
    assert out["retracted_at_s"] >= m["time_s"]
    assert ("marker_changed", sid, m["id"], True) in hub.calls
    # the API lists it, marked; the read layer of the review and exports leaves it out
    listed = client.get(f"/api/sessions/{sid}/markers").json()
    assert [(x["id"], x["retracted"]) for x in listed] == [(m["id"], True)]
    store = ctx_of(client).store
    assert store.list_markers(sid) == []
    assert [x.id for x in store.list_markers(sid, include_retracted=True)] == [m["id"]]
    actions = _audit(client, m["id"])
    assert [a for a, _ in actions] == ["marker.undo"]
    assert actions[0][1]["type"] == "dissociation_observed"
    # twice is a conflict, not a second retraction
    assert client.post(f"/api/sessions/{sid}/markers/{m['id']}/undo").status_code == 409
    assert len(_audit(client, m["id"])) == 1


def test_undo_is_only_for_a_short_time_then_retract_with_a_reason(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    store = ctx_of(client).store
    hub = ctx_of(client).hub
    old = store.add_marker(sid, "rupture", at_s=hub.now(sid) - UNDO_WINDOW_S - 5.0)
    r = client.post(f"/api/sessions/{sid}/markers/{old.id}/undo")
    assert r.status_code == 409
    assert "retract it with a reason" in r.text
    assert client.post(f"/api/sessions/{sid}/markers/{old.id}/retract", json={}).status_code == 422
    r = client.post(
        f"/api/sessions/{sid}/markers/{old.id}/retract",
        json={"reason": "pressed R by mistake"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["retracted"]["retraction_reason"] == "pressed R by mistake"
    assert _audit(client, old.id)[0][0] == "marker.retract"
    assert _audit(client, old.id)[0][1]["reason"] == "pressed R by mistake"


def test_retract_and_correct_after_the_session(client: TestClient) -> None:
    sid, _, _ = live_dyad(client)
    a = client.post(f"/api/sessions/{sid}/markers", json={"type": "silence"}).json()
    b = client.post(f"/api/sessions/{sid}/markers", json={"type": "rupture"}).json()
    assert client.post(f"/api/sessions/{sid}/stop").status_code == 200
    # undo is a live-page action; later, retract or correct
    assert client.post(f"/api/sessions/{sid}/markers/{a['id']}/undo").status_code == 409
    r = client.post(
        f"/api/sessions/{sid}/markers/{b['id']}/correct",
        json={"type": "repair", "reason": "it was the repair, not the rupture"},
    )
    assert r.status_code == 200, r.text
    old, new = r.json()["retracted"], r.json()["correction"]
    assert (old["id"], old["type"], old["retracted"]) == (b["id"], "rupture", True)
    assert (new["type"], new["retracted"], new["replaces_id"]) == ("repair", False, b["id"])
    assert new["time_s"] == b["time_s"]  # at the original's time
    assert _audit(client, b["id"])[0][0] == "marker.correct"
    assert _audit(client, b["id"])[0][1]["correction_id"] == new["id"]
    listed = {x["id"]: x for x in client.get(f"/api/sessions/{sid}/markers").json()}
    assert set(listed) == {a["id"], b["id"], new["id"]}
    standing = [m.type for m in ctx_of(client).store.list_markers(sid)]
    assert standing == ["silence", "repair"]
    # unknown marker, another session's marker, a bad type
    assert (
        client.post(f"/api/sessions/{sid}/markers/999/retract", json={"reason": "x"}).status_code
        == 404
    )
    sid2 = sid + 1000  # no such session
    assert (
        client.post(
            f"/api/sessions/{sid2}/markers/{a['id']}/retract", json={"reason": "x"}
        ).status_code
        == 404
    )
    r = client.post(
        f"/api/sessions/{sid}/markers/{a['id']}/correct", json={"type": "nonsense", "reason": "x"}
    )
    assert r.status_code == 422


def test_the_review_reads_only_standing_markers(client: TestClient) -> None:
    """The review (and every export) reads markers through ``Store.list_markers``, which leaves
    retracted ones out; the corrected marker takes the original's place."""
    from server.review_data import load_session_inputs

    sid, _, _ = live_dyad(client)
    a = client.post(f"/api/sessions/{sid}/markers", json={"type": "dissociation_observed"}).json()
    b = client.post(f"/api/sessions/{sid}/markers", json={"type": "rupture"}).json()
    client.post(f"/api/sessions/{sid}/markers/{a['id']}/undo")
    client.post(
        f"/api/sessions/{sid}/markers/{b['id']}/correct",
        json={"type": "repair", "reason": "wrong key"},
    )
    client.post(f"/api/sessions/{sid}/stop")
    inputs = load_session_inputs(ctx_of(client).store, sid)
    kinds = [getattr(m, "kind", None) or getattr(m, "type", None) for m in inputs.markers]
    assert kinds == ["repair"]
