"""server.auth: the token file, passwords, login tokens, and who may call which route."""

from __future__ import annotations

import base64
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.auth import (
    AuthError,
    Principal,
    can_view_session,
    hash_password,
    issue_login_token,
    load_or_create_token,
    verify_password,
)
from server.storage import Session
from tests.support.api import api_client, ctx_of

# ---------------------------------------------------------------------------- the token file


def test_token_file_is_created_0600_and_stable(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    token = load_or_create_token(data)
    path = data / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    # 32 random bytes in URL-safe base64: 43 characters, no padding
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert load_or_create_token(data) == token
    assert path.read_text().strip() == token
    assert [p.name for p in data.iterdir()] == ["token"]  # no temporary file left


def test_two_data_dirs_get_different_tokens(tmp_path: Path) -> None:
    assert load_or_create_token(tmp_path / "a") != load_or_create_token(tmp_path / "b")


def test_too_open_token_file_is_tightened(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    (tmp_path / "token").chmod(0o644)
    assert load_or_create_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_empty_token_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    (tmp_path / "token").chmod(0o600)
    with pytest.raises(AuthError, match="empty"):
        load_or_create_token(tmp_path)


def test_concurrent_first_runs_agree_on_one_token(tmp_path: Path) -> None:
    tokens: list[str] = []
    barrier = threading.Barrier(8)

    def first_run() -> None:
        barrier.wait()
        tokens.append(load_or_create_token(tmp_path))

    threads = [threading.Thread(target=first_run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert sorted(os.listdir(tmp_path)) == ["token"]


# ---------------------------------------------------------------------------- passwords, tokens


def test_password_hash_is_argon2id_salted_and_verifies() -> None:
    a = hash_password("correct horse battery")
    b = hash_password("correct horse battery")
    assert a.startswith("$argon2id$")
    assert a != b  # random salt
    assert verify_password(a, "correct horse battery")
    assert not verify_password(a, "correct horse batterz")
    assert not verify_password(None, "anything at all")
    assert not verify_password("not a hash", "anything at all")
    with pytest.raises(AuthError, match="at least 8"):
        hash_password("short")


def test_login_token_expires_and_rejects_tampering(tmp_path: Path) -> None:
    from server.auth import _login_token_claims

    def _login_token_user(key: str, token: str, now_s: float) -> str | None:
        claims = _login_token_claims(key, token, now_s)
        return None if claims is None else claims[0]

    key = "k" * 43
    token, expires = issue_login_token(key, "ana", now_s=1000.0, ttl_s=60.0)
    assert expires == 1060.0
    assert _login_token_claims(key, token, 1000.0) == ("ana", 1_000_000)
    assert _login_token_user(key, token, 1059.9) == "ana"
    assert _login_token_user(key, token, 1060.0) is None  # expired
    assert _login_token_user("other key" * 5, token, 1000.0) is None
    prefix, user, exp, issued, sig = token.split(".")
    forged_user = base64.urlsafe_b64encode(b"admin").rstrip(b"=").decode()
    assert _login_token_user(key, f"{prefix}.{forged_user}.{exp}.{issued}.{sig}", 1000.0) is None
    assert _login_token_user(key, f"{prefix}.{user}.99999999.{issued}.{sig}", 1000.0) is None
    assert _login_token_user(key, f"{prefix}.{user}.{exp}.99999999999.{sig}", 1000.0) is None
    assert _login_token_user(key, "garbage", 1000.0) is None


def test_can_view_session() -> None:
    s = Session(1, 5, None, {}, "planned", 0.0, None, None, None)
    assert can_view_session(Principal.admin(), s)
    assert can_view_session(Principal("clinician", 5, "ana"), s)
    assert not can_view_session(Principal("clinician", 6, "bea"), s)
    assert Principal("clinician", 5, "ana").actor == "clinician:ana"
    assert Principal.admin().actor == "admin"


# ---------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with api_client(tmp_path / "data") as c:
        yield c


def _fill(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "1", path)


def test_every_route_but_health_and_login_needs_a_token(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        for method in ops:
            if path in ("/api/health", "/api/auth/login"):
                continue
            url = _fill(path)
            for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token"}):
                r = client.request(method, url, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
            r = client.request(method, url, headers={"Authorization": ""}, params={"token": "x"})
            assert r.status_code == 401, (method, path)
            checked += 1
    assert checked >= 25


def test_health_needs_no_token(client: TestClient) -> None:
    r = client.get("/api/health", headers={"Authorization": ""})
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == "sqlite"


def test_token_in_header_or_query(client: TestClient) -> None:
    token = ctx_of(client).token
    r = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json() == {"kind": "admin", "clinician_id": None, "username": None}
    r = client.get("/api/me", headers={"Authorization": ""}, params={"token": token})
    assert r.status_code == 200
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": token}).status_code == 401


def _add_clinician(client: TestClient, name: str, password: str = "s3cret-pass") -> int:
    r = client.post("/api/clinicians", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    assert "password" not in r.text
    assert "argon2" not in r.text
    return int(r.json()["id"])


def _login(client: TestClient, name: str, password: str = "s3cret-pass") -> dict[str, str]:
    r = client.post(
        "/api/auth/login",
        json={"username": name, "password": password},
        headers={"Authorization": ""},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_clinician_login_basic_and_errors(client: TestClient) -> None:
    cid = _add_clinician(client, "ana")
    assert (
        client.post(
            "/api/clinicians", json={"username": "ana", "password": "another-pass"}
        ).status_code
        == 409
    )
    assert (
        client.post(
            "/api/clinicians", json={"username": "Ana Silva", "password": "another-pass"}
        ).status_code
        == 422
    )
    assert (
        client.post("/api/clinicians", json={"username": "bea", "password": "short"}).status_code
        == 422
    )
    headers = _login(client, "ana")
    me = client.get("/api/me", headers=headers).json()
    assert me == {"kind": "clinician", "clinician_id": cid, "username": "ana"}
    basic = base64.b64encode(b"ana:s3cret-pass").decode()
    r = client.get("/api/me", headers={"Authorization": f"Basic {basic}"})
    assert r.json()["username"] == "ana"
    wrong = base64.b64encode(b"ana:wrong-pass").decode()
    assert client.get("/api/me", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Basic %%%"}).status_code == 401
    for body in ({"username": "ana", "password": "nope"}, {"username": "zed", "password": "x"}):
        r = client.post("/api/auth/login", json=body, headers={"Authorization": ""})
        assert r.status_code == 401
    assert client.post("/api/auth/login", json={"username": "ana"}).status_code == 422
    # admin-only routes
    assert client.get("/api/audit", headers=headers).status_code == 403
    r = client.post(
        "/api/clinicians", json={"username": "x1", "password": "12345678"}, headers=headers
    )
    assert r.status_code == 403
    actions = [e.action for e in ctx_of(client).store.list_audit()]
    assert "clinician.login" in actions


def test_clinicians_see_only_their_own(client: TestClient) -> None:
    _add_clinician(client, "ana")
    _add_clinician(client, "bea")
    ana, bea = _login(client, "ana"), _login(client, "bea")
    p = client.post("/api/participants", json={"code": "P-A", "role": "patient"}, headers=ana)
    assert p.status_code == 201
    pid = p.json()["id"]
    s = client.post(
        "/api/sessions",
        json={"participants": [{"participant_id": pid, "device": {"kind": "simulator"}}]},
        headers=ana,
    )
    assert s.status_code == 201
    sid = s.json()["id"]
    assert s.json()["clinician_id"] == client.get("/api/me", headers=ana).json()["clinician_id"]
    # ana sees it; bea gets 404 everywhere, as if it did not exist
    assert client.get(f"/api/sessions/{sid}", headers=ana).status_code == 200
    assert [x["id"] for x in client.get("/api/sessions", headers=ana).json()["sessions"]] == [sid]
    assert client.get("/api/sessions", headers=bea).json()["sessions"] == []
    for method, url, body in [
        ("get", f"/api/sessions/{sid}", None),
        ("post", f"/api/sessions/{sid}/start", None),
        ("get", f"/api/sessions/{sid}/beats", None),
        ("get", f"/api/sessions/{sid}/timeline", None),
        ("get", f"/api/sessions/{sid}/markers", None),
        ("get", f"/api/participants/{pid}", None),
        ("get", f"/api/participants/{pid}/consents", None),
        ("delete", f"/api/participants/{pid}/data", None),
        ("post", f"/api/participants/{pid}/consents", {"purpose": "storage", "version": "1"}),
    ]:
        r = client.request(method, url, headers=bea, json=body)
        assert r.status_code == 404, (method, url, r.text)
    assert client.get("/api/participants", headers=bea).json() == []
    # bea cannot put ana's participant in her own session either
    r = client.post(
        "/api/sessions",
        json={"participants": [{"participant_id": pid, "device": {"kind": "simulator"}}]},
        headers=bea,
    )
    assert r.status_code == 404
    # nor create a session owned by ana
    r = client.post("/api/sessions", json={"clinician_id": 1}, headers=bea)
    assert r.status_code == 403
    # the admin token sees everything
    assert client.get(f"/api/sessions/{sid}").status_code == 200
    assert [x["code"] for x in client.get("/api/participants").json()] == ["P-A"]
    actors = {e.actor for e in ctx_of(client).store.list_audit()}
    assert {"clinician:ana", "admin"} <= actors
