"""A bounded fuzz of every API operation on SQLite and PostgreSQL: no input may cause a 5xx.

Requests are drawn with hypothesis from the app's own OpenAPI document: path and query
parameters and JSON bodies follow each operation's schema, but any value may be swapped for a
hostile one (integers beyond 32 and 64 bits, NaN, infinities, 1e308, NUL characters, unpaired
surrogates, HTML, wrong types, missing or extra fields). Every request carries the admin token
(the caller who reaches the most code) or a clinician's, so the answers come from the handlers,
not from the authentication. Any 5xx fails; a 503 of the Bluetooth scan is excluded by giving
the app a scanner that finds nothing. :data:`EXAMPLES_PER_OPERATION` bounds the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.app import create_app
from server.settings import ServerSettings
from server.storage import StorageSettings
from tests.support.security import COUNTS, World, build_world, empty_tables

#: Requests per operation and backend at most (39 operations: about 1,900 per backend; hypothesis
#: stops early on operations with few distinct inputs).
EXAMPLES_PER_OPERATION: Final[int] = 60

_HOSTILE_INTS: Final[tuple[int, ...]] = (
    -1,
    0,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
)
_HOSTILE_TEXT: Final[tuple[str, ...]] = (
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "<a href='https://x.example'>x</a>",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "/dev/zero",
    "' OR 1=1 --",
    "%00",
    "\u202e\ufeff",
    "x" * 5000,
)
_HOSTILE_FLOATS: Final[tuple[float, ...]] = (math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324)
_HOSTILE: Final = st.one_of(
    st.sampled_from(_HOSTILE_INTS),
    st.sampled_from(_HOSTILE_TEXT),
    st.sampled_from(_HOSTILE_FLOATS),
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
)


_DOC: Final[dict[str, Any]] = create_app(
    ServerSettings(storage=StorageSettings(Path("unused")))
).openapi()
#: Every operation of the OpenAPI document: (method, path, operation object).
OPERATIONS: Final[list[tuple[str, str, dict[str, Any]]]] = [
    (method.upper(), path, op)
    for path, methods in sorted(_DOC["paths"].items())
    for method, op in sorted(methods.items())
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = _DOC["components"]["schemas"][name]
    return schema


def _typed(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that follow ``schema`` (roughly: bounds are ignored on purpose)."""
    schema = _resolve(schema)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of([_value(s, depth) for s in schema[key]])
    kind = schema.get("type")
    if kind == "integer":
        return st.one_of(st.integers(-10, 100), st.integers(-(2**70), 2**70))
    if kind == "number":
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-100, 100))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "string":
        return st.text(max_size=40)
    if kind == "array":
        if depth > 3:
            return st.just([])
        return st.lists(_value(schema.get("items", {}), depth + 1), max_size=4)
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return st.just({})
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: _value(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: _value(v, depth + 1) for k, v in props.items() if k not in required},
        )
    return _HOSTILE


def _value(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """A value of the schema, or (one time in about five) a hostile one."""
    return st.one_of(_typed(schema, depth), _typed(schema, depth), _HOSTILE)


def _as_param(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf, -inf
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict) or value is None:
        return json.dumps(value)
    return str(value)


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_migrated_url")
        empty_tables(url)
    with build_world(tmp_path_factory.mktemp("fuzz") / "data", url) as w:
        yield w


@pytest.mark.parametrize(
    ("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_no_input_causes_a_server_error(
    world: World, method: str, path: str, op: dict[str, Any]
) -> None:
    COUNTS["fuzz: 5xx found"] += 0  # shown in the summary even when none
    params = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
    body_schema = (
        op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one(data: st.DataObject) -> None:
        url = path
        query = []
        for p in params:
            schema = p.get("schema", {})
            if p["in"] == "path":
                value = data.draw(st.one_of(_typed(schema), _HOSTILE), label=p["name"])
                text = _as_param(value) or "0"
                url = url.replace("{" + p["name"] + "}", _quote(text))
            elif data.draw(st.booleans(), label=f"send {p['name']}"):
                value = data.draw(_value(schema), label=p["name"])
                query.append(f"{p['name']}={_quote(_as_param(value))}")
        token = data.draw(st.sampled_from([world.admin, world.ana]), label="token")
        headers = {"Authorization": f"Bearer {token}"}
        kwargs: dict[str, Any] = {"headers": headers}
        if body_schema is not None:
            body = data.draw(_value(body_schema), label="body")
            kwargs["content"] = json.dumps(body, allow_nan=True, ensure_ascii=True)
            headers["Content-Type"] = "application/json"
        if query:
            url += "?" + "&".join(query)
        r = world.client.request(method, url, **kwargs)
        COUNTS["fuzz: requests"] += 1
        if r.status_code >= 500:
            COUNTS["fuzz: 5xx found"] += 1
        assert r.status_code < 500, (method, url, kwargs.get("content"), r.status_code, r.text)

    one()
