"""Static serving of the dashboard (``server.pages``), in process with starlette's TestClient.

Files come from the installed ``dashboard`` package (``importlib.resources``), plotly.js from the
installed ``plotly`` package; nothing outside ``dashboard/static/`` can be named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from dashboard.events import find_forbidden_terms
from dashboard.phases import DEFAULT_FIRST_SESSION
from server.app import create_app
from server.pages import CONSENT_TEXT_VERSION, content_type, plotly_js, router, static_file
from server.settings import ServerSettings

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

#: The files of this page set (the live page's files are tested with the live page).
OWN_FILES = (
    "api.js",
    "common.css",
    "setup.css",
    "setup.html",
    "setup.js",
    "sessions.html",
    "sessions.js",
)
EXPECTED_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
STATIC_DIR = resources.files("dashboard").joinpath("static")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def _shipped(name: str) -> bytes:
    return STATIC_DIR.joinpath(name).read_bytes()


@pytest.mark.parametrize("name", OWN_FILES)
def test_static_files_are_served_with_type_and_cache_headers(client: TestClient, name: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == EXPECTED_TYPES[Path(name).suffix]
    if name.endswith(".html"):  # the page with its configuration filled in
        assert "<!--SINTONIA:CONFIG-->" in _shipped(name).decode()
        assert "<!--SINTONIA:CONFIG-->" not in r.text
        assert r.text == client.get(f"/sessions{'/new' if name == 'setup.html' else ''}").text
    else:
        assert r.content == _shipped(name)
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])


def test_every_shipped_static_file_is_served(client: TestClient) -> None:
    names = [n.name for n in STATIC_DIR.iterdir() if n.is_file()]
    assert set(OWN_FILES) <= set(names)
    for name in names:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        if not name.endswith(".html"):
            assert r.content == _shipped(name), name


def test_unchanged_file_revalidates_with_304(client: TestClient) -> None:
    first = client.get("/static/setup.js")
    again = client.get("/static/setup.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/static/setup.js", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_plotly_js_is_the_installed_packages_bundle(client: TestClient) -> None:
    import plotly
    from plotly.offline import get_plotlyjs

    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=86400"
    # Identical to what plotly itself embeds in offline HTML (an independent way to the file).
    assert r.content == get_plotlyjs().encode("utf-8")
    assert r.content == plotly_js().body
    assert plotly.__version__ in r.headers["etag"]
    cached = client.get(
        "/static/vendor/plotly.min.js", headers={"If-None-Match": r.headers["etag"]}
    )
    assert cached.status_code == 304


@pytest.mark.parametrize(
    "raw_path",
    [
        "/static/../server/app.py",
        "/static/%2e%2e/server/app.py",
        "/static/%2E%2E%2Fserver%2Fapp.py",
        "/static/..%2f..%2fpyproject.toml",
        "/static/..%5cserver%5capp.py",
        "/static/vendor/%2e%2e/%2e%2e/server/pages.py",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/.hidden",
        "/static/%2e/setup.js",
        "/static/",
        "/static/nonexistent.js",
        "/static/setup.js%00.png",
    ],
)
def test_paths_outside_the_static_directory_are_404(client: TestClient, raw_path: str) -> None:
    r = client.get(raw_path)
    assert r.status_code == 404, (raw_path, r.status_code)
    assert b"create_app" not in r.content
    assert b"root:" not in r.content


@pytest.mark.parametrize(
    "path",
    ["../server/app.py", "..", ".", "a/../setup.js", "/etc/passwd", "setup.js/", "", "x\\..\\y"],
)
def test_static_file_refuses_non_plain_paths(path: str) -> None:
    assert static_file(path) is None


@given(st.text(alphabet=st.sampled_from(list("./\\_-aAz0%\x00")), max_size=24))
def test_static_file_returns_only_files_of_the_static_directory(path: str) -> None:
    found = static_file(path)
    if found is not None:
        # Whatever was accepted names a file shipped in dashboard/static/, read as such.
        assert ".." not in path.split("/")
        assert found.body == STATIC_DIR.joinpath(*path.split("/")).read_bytes()


def test_content_types() -> None:
    assert content_type("a.HTML") == "text/html; charset=utf-8"
    assert content_type("logo.svg") == "image/svg+xml"
    assert content_type("noext") == "application/octet-stream"


@pytest.mark.parametrize(("url", "file"), [("/sessions/new", "setup"), ("/sessions", "sessions")])
def test_pages_carry_their_config_and_a_strict_policy(
    client: TestClient, url: str, file: str
) -> None:
    r = client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "http" not in csp  # no other origin is allowed
    assert r.headers["referrer-policy"] == "no-referrer"
    m = re.search(
        r'<script type="application/json" id="sintonia-config">(.*?)</script>', r.text, re.S
    )
    assert m is not None
    config = json.loads(m.group(1))
    assert config["templates"] == [DEFAULT_FIRST_SESSION.to_dict()]
    assert config["consent_version"] == CONSENT_TEXT_VERSION
    assert f'src="/static/{file}.js"' in r.text


@pytest.mark.parametrize("name", OWN_FILES)
def test_own_files_request_nothing_from_another_origin(name: str) -> None:
    text = _shipped(name).decode("utf-8")
    # No absolute URL at all (http:, https:, protocol-relative //host) in src/href/url()/fetch.
    assert re.search(r"https?://", text) is None, name
    assert re.search(r"""(src|href)\s*=\s*["']//""", text) is None, name
    assert re.search(r"url\(\s*['\"]?//", text) is None, name
    # Wording rule of the project: no state labels HRV cannot detect.
    assert find_forbidden_terms(text) == [], name


def test_the_app_serves_the_pages(tmp_path: Path) -> None:
    settings = ServerSettings.from_env(
        {"SINTONIA_DATA_DIR": str(tmp_path)}, allowed_hosts=TEST_HOSTS
    )
    with TestClient(create_app(settings)) as c:
        assert c.get("/sessions/new").status_code == 200
        assert c.get("/sessions").status_code == 200
        assert c.get("/static/common.css").status_code == 200
        r = c.get("/static/vendor/plotly.min.js")
        assert r.status_code == 200
        assert r.content == plotly_js().body
        # The pages hold no data: no token needed; the API still needs it.
        assert c.get("/api/sessions").status_code == 401
