"""Static files and the pages of the web layer (``server.web``), in process with TestClient.

Files come from the installed ``dashboard`` package through Starlette's ``StaticFiles``
(:class:`server.web.static.PackageFiles`), plotly.js from the installed ``plotly`` package;
nothing outside ``dashboard/static/`` can be named, only plain names of the served types are
served, and no directory is listed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Mount

from dashboard.events import find_forbidden_terms
from dashboard.phases import DEFAULT_FIRST_SESSION
from dashboard.vocab import page_vocabulary
from server.app import create_app
from server.settings import ServerSettings
from server.web import static_mounts
from server.web.pages import CONSENT_TEXT_VERSION
from server.web.static import CONTENT_TYPES, PackageFiles, content_type, plain_path

#: TestClient sends "Host: testserver"; the app answers configured hosts only.
TEST_HOSTS = ("testserver",)

#: The files of this page set (the live page's files are tested with the live page).
OWN_FILES = (
    "api.js",
    "common.css",
    "setup.css",
    "setup.js",
    "sessions.js",
    "alliance.js",
    "join.js",
)
TEMPLATES = ("setup.html", "sessions.html", "alliance.html", "join.html")
EXPECTED_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
}
STATIC_DIR = resources.files("dashboard").joinpath("static")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The static mounts alone (no security middleware: what StaticFiles itself answers)."""
    app = FastAPI()
    app.router.routes.extend(static_mounts())
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The whole app."""
    settings = ServerSettings.from_env(
        {"SINTONIA_DATA_DIR": str(tmp_path_factory.mktemp("data"))}, allowed_hosts=TEST_HOSTS
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _shipped(name: str) -> bytes:
    return STATIC_DIR.joinpath(*name.split("/")).read_bytes()


def _static_files() -> list[str]:
    """Every file of ``dashboard/static/`` (subfolders included), as a relative path."""
    root = Path(os.fspath(STATIC_DIR))  # type: ignore[call-overload]
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", OWN_FILES)
def test_static_files_are_served_with_type_and_cache_headers(client: TestClient, name: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == EXPECTED_TYPES[Path(name).suffix]
    assert r.content == _shipped(name)
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])


def test_every_shipped_static_file_is_served_and_no_template(client: TestClient) -> None:
    names = _static_files()
    assert set(OWN_FILES) | set(TEMPLATES) <= set(names)
    for name in names:
        r = client.get(f"/static/{name}")
        if name.endswith(".html"):  # a page template: served by its page route only
            assert r.status_code == 404, name
            continue
        assert r.status_code == 200, name
        assert r.content == _shipped(name), name
        assert r.headers["content-type"] == CONTENT_TYPES[Path(name).suffix], name


def test_unchanged_file_revalidates_with_304(client: TestClient) -> None:
    first = client.get("/static/setup.js")
    again = client.get("/static/setup.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/static/setup.js", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_plotly_js_is_the_installed_packages_bundle(client: TestClient) -> None:
    from plotly.offline import get_plotlyjs

    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=86400"
    # Identical to what plotly itself embeds in offline HTML (an independent way to the file).
    assert r.content == get_plotlyjs().encode("utf-8")
    cached = client.get(
        "/static/vendor/plotly.min.js", headers={"If-None-Match": r.headers["etag"]}
    )
    assert cached.status_code == 304
    # Only the bundle: the rest of plotly's package data is not served.
    for other in ("widgetbundle.js", "templates/plotly.json", "templates", "datasets"):
        assert client.get(f"/static/vendor/{other}").status_code == 404, other


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
        "/static/setup.html",
        "/static/vendor",
        "/static/vendor/",
        "/static/vendor/plotly.min.js/..%2f..%2fsetup.js",
        "/static/common.css/",
        "/static/..%2fweb%2fstatic.py",
    ],
)
def test_paths_outside_the_static_directory_are_404(client: TestClient, raw_path: str) -> None:
    r = client.get(raw_path)
    assert r.status_code == 404, (raw_path, r.status_code)
    assert b"create_app" not in r.content
    assert b"root:" not in r.content


def test_the_app_answers_odd_static_paths_without_a_file(app_client: TestClient) -> None:
    # Through the security middleware: 404, or 400 for a NUL character (refused before routing).
    for raw_path in ("/static/../server/app.py", "/static/.hidden", "/static/setup.js%00.png"):
        r = app_client.get(raw_path)
        assert r.status_code in (400, 404), raw_path
        assert b"create_app" not in r.content


@pytest.mark.parametrize(
    "path",
    [
        "../server/app.py",
        "..",
        ".",
        "a/../setup.js",
        "/etc/passwd",
        "setup.js/",
        "",
        "x\\..\\y.js",
        ".env.js",
        "setup.html",
        "setup.py",
        "a/b/c/d/e.js",
    ],
)
def test_plain_path_refuses_non_plain_paths(path: str) -> None:
    assert not plain_path(path)


@given(st.text(alphabet=st.sampled_from(list("./\\_-aAz0%\x00js")), max_size=24))
def test_plain_path_accepts_only_plain_names_of_served_types(path: str) -> None:
    if plain_path(path):
        parts = path.split("/")
        assert all(p and not p.startswith(".") for p in parts)
        assert not any(c in path for c in "\\\x00%")
        assert content_type(path) is not None


def test_content_types() -> None:
    assert content_type("live/chart.JS") == "text/javascript; charset=utf-8"
    assert content_type("module.mjs") == "text/javascript; charset=utf-8"
    assert content_type("logo.svg") == "image/svg+xml"
    assert content_type("noext") is None
    assert content_type("setup.html") is None


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[TestClient]:
    """A served directory with an ES module in a subfolder and a symlink out of the directory."""
    root = tmp_path / "static"
    (root / "live").mkdir(parents=True)
    (root / "live" / "chart.js").write_text("export const x = 1;\n")
    (root / "live" / "notes.bin").write_bytes(b"\x00\x01")
    (tmp_path / "secret.js").write_text("const secret = 42;\n")
    (root / "escape.js").symlink_to(tmp_path / "secret.js")
    app = FastAPI()
    app.router.routes.append(Mount("/static", app=PackageFiles(str(root), "no-cache")))
    with TestClient(app) as c:
        yield c


def test_es_modules_in_subfolders_are_javascript(tree: TestClient) -> None:
    r = tree.get("/static/live/chart.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.text == "export const x = 1;\n"


def test_no_directory_listing_no_unknown_type_no_symlink_out(tree: TestClient) -> None:
    for path in ("/static/live", "/static/live/", "/static/", "/static/live/notes.bin"):
        assert tree.get(path).status_code == 404, path
    r = tree.get("/static/escape.js")  # resolves outside the directory
    assert r.status_code == 404
    assert b"secret" not in r.content


def _config(html: str) -> dict[str, object]:
    m = re.search(
        r'<script type="application/json" id="sintonia-config">(.*?)</script>', html, re.S
    )
    assert m is not None
    config: dict[str, object] = json.loads(m.group(1))
    return config


@pytest.mark.parametrize(
    ("url", "file"),
    [("/sessions/new", "setup"), ("/sessions", "sessions"), ("/sessions/3/alliance", "alliance")],
)
def test_pages_carry_their_config_and_the_policy(
    app_client: TestClient, url: str, file: str
) -> None:
    r = app_client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no inline script on these pages, so no hash either
    assert "http" not in csp  # no other origin is allowed
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    config = _config(r.text)
    assert config["vocab"] == json.loads(json.dumps(page_vocabulary()))
    if file == "setup":
        assert config["templates"] == [DEFAULT_FIRST_SESSION.to_dict()]
        assert config["consent_version"] == CONSENT_TEXT_VERSION
    if file == "alliance":
        assert config["session_id"] == 3
    assert f'src="/static/{file}.js"' in r.text


@pytest.mark.parametrize("name", OWN_FILES + TEMPLATES)
def test_own_files_request_nothing_from_another_origin(name: str) -> None:
    text = _shipped(name).decode("utf-8")
    # No absolute URL at all (http:, https:, protocol-relative //host) in src/href/url()/fetch.
    assert re.search(r"https?://", text) is None, name
    assert re.search(r"""(src|href)\s*=\s*["']//""", text) is None, name
    assert re.search(r"url\(\s*['\"]?//", text) is None, name
    # Wording rule of the project: no state labels HRV cannot detect.
    assert find_forbidden_terms(text) == [], name


def test_the_app_serves_the_pages(app_client: TestClient) -> None:
    c = app_client
    assert c.get("/sessions/new").status_code == 200
    assert c.get("/sessions").status_code == 200
    assert c.get("/static/common.css").status_code == 200
    r = c.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    # The pages hold no data: no token needed; the API still needs it.
    assert c.get("/api/sessions").status_code == 401
