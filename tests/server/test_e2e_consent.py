"""Consent revocation mid-stream against a real ``sintonia demo`` (issue 5, consent and access).

Revoking the patient's ``live_display`` hides them from the live stream at once while their beats
are still stored; revoking ``storage`` then erases what was stored of them and stores nothing
more, while the therapist's stream and storage go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.cli.demo import DEMO_PATIENT_CODE, DEMO_THERAPIST_CODE
from server.messages import BeatsMessage, HistoryMessage, VisibilityMessage, parse_message
from tests.support import e2e

#: Beats messages read after a revocation to check that the patient stays out of them (~2 s).
MESSAGES_AFTER: int = 8


def _count(client: Any, session_id: int, code: str) -> int:
    return len(e2e.all_beats(client, session_id, participant=code).get("seq", []))


def _revoke(client: Any, participant_id: int, purpose: str) -> dict[str, Any]:
    response = client.post(
        f"/api/participants/{participant_id}/consents/revoke", json={"purpose": purpose}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert len(body["revoked"]) == 1
    return body


@pytest.mark.slow
def test_revoking_consents_mid_stream(tmp_path: Path) -> None:
    args = ["demo", "--port", "0", "--speed", "50", "--no-browser"]
    with e2e.running_server(args, tmp_path / "data") as server, server.client() as client:
        sid = e2e.session_ids(client, status="live")[0]
        ids = {p["code"]: p["id"] for p in client.get("/api/participants").json()}
        patient = ids[DEMO_PATIENT_CODE]
        with server.websocket(sid) as ws:
            assert isinstance(parse_message(ws.recv(timeout=10)), HistoryMessage)
            shown: set[str] = set()
            while shown != {DEMO_PATIENT_CODE, DEMO_THERAPIST_CODE}:
                message = parse_message(ws.recv(timeout=10))
                if isinstance(message, BeatsMessage):
                    shown |= {p.code for p in message.participants}

            _revoke(client, patient, "live_display")
            hidden = None
            codes_after: set[str] = set()
            n_after = 0
            while n_after < MESSAGES_AFTER:
                message = parse_message(ws.recv(timeout=10))
                if isinstance(message, VisibilityMessage):
                    hidden = message
                elif isinstance(message, BeatsMessage) and hidden is not None:
                    n_after += 1
                    codes_after |= {p.code for p in message.participants}
        assert hidden is not None
        assert (hidden.participant_id, hidden.visible, hidden.reason) == (
            patient,
            False,
            "consent_revoked",
        )
        assert codes_after == {DEMO_THERAPIST_CODE}, "the patient is no longer streamed"
        # Not shown, still stored: live_display and storage are separate purposes.
        stored = _count(client, sid, DEMO_PATIENT_CODE)
        e2e.wait_until(lambda: _count(client, sid, DEMO_PATIENT_CODE) > stored + 20 or None)

        body = _revoke(client, patient, "storage")
        assert body["erasure"]["action"] == "delete"
        assert body["erasure"]["rows"].get("beats", 0) > stored
        therapist_before = _count(client, sid, DEMO_THERAPIST_CODE)
        # The therapist's beats go on being stored; none of the patient's come back.
        e2e.wait_until(
            lambda: _count(client, sid, DEMO_THERAPIST_CODE) > therapist_before + 50 or None
        )
        remaining = e2e.all_beats(client, sid)
        assert set(remaining["participant_code"]) == {DEMO_THERAPIST_CODE}
        # The patient is no longer part of the session's stored data at all.
        response = client.get(
            f"/api/sessions/{sid}/beats", params={"participant": DEMO_PATIENT_CODE}
        )
        assert response.status_code == 404
