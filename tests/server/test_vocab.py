"""One source for each vocabulary (issue 11, item 5): every value the database and the API accept
has its words in :mod:`dashboard.vocab`, and no words belong to a value that no longer exists."""

from __future__ import annotations

import json
from typing import get_args

from dashboard.vocab import (
    CONSENT_WORDS,
    CUE_RESPONSE_LABELS,
    MARKER_KEYS,
    MARKER_LABELS,
    MARKER_SHORT_LABELS,
    ROLE_LABELS,
    SESSION_STATUS_LABELS,
    page_vocabulary,
)
from server.models import MARKER_TYPES
from server.storage.records import CONSENT_PURPOSES, ROLES, SESSION_STATUSES, CueResponse


def test_every_value_has_words_in_order_and_no_words_are_orphans() -> None:
    assert list(CONSENT_WORDS) == list(CONSENT_PURPOSES)
    assert list(ROLE_LABELS) == list(ROLES)
    assert list(MARKER_LABELS) == list(MARKER_TYPES)
    assert set(MARKER_SHORT_LABELS) == set(MARKER_TYPES)
    assert list(CUE_RESPONSE_LABELS) == list(get_args(CueResponse))
    assert set(MARKER_KEYS) <= set(MARKER_TYPES)
    assert list(SESSION_STATUS_LABELS) == list(SESSION_STATUSES)


def test_marker_keys_are_distinct_single_letters() -> None:
    keys = list(MARKER_KEYS.values())
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 1 and k.isalpha() and k.isupper() for k in keys)


def test_page_vocabulary_keeps_the_literal_order_and_is_json() -> None:
    v = json.loads(json.dumps(page_vocabulary()))
    assert [p["id"] for p in v["consent_purposes"]] == list(CONSENT_PURPOSES)
    assert [m["id"] for m in v["marker_types"]] == list(MARKER_TYPES)
    assert [r["id"] for r in v["roles"]] == list(ROLES)
    for p in v["consent_purposes"]:
        assert all(isinstance(p[k], str) and p[k] for k in ("label", "allows", "without"))
    assert next(m for m in v["marker_types"] if m["id"] == "note")["key"] is None


def test_no_marker_label_claims_an_inference() -> None:
    # Clinical rule: the app never labels a person; the dissociation marker is the therapist's
    # own observation and its full label says so.
    assert "therapist's observation" in MARKER_LABELS["dissociation_observed"]


def test_python_copies_are_the_vocabulary_itself() -> None:
    from dashboard import figures, vocab
    from server.remote.routes import PURPOSE_TEXT

    assert figures.MARKER_LABELS is vocab.MARKER_LABELS
    assert {p: w.to_participant for p, w in CONSENT_WORDS.items()} == PURPOSE_TEXT


#: Page scripts that take their words from the page configuration's ``vocab``.
_PAGE_SCRIPTS = ("setup.js", "join.js", "alliance.js", "sessions.js")


def test_page_scripts_hold_no_copy_of_the_words() -> None:
    from importlib import resources

    static = resources.files("dashboard").joinpath("static")
    words = [w for cw in CONSENT_WORDS.values() for w in cw.as_json().values() if len(w) > 12]
    words += [f'"{label}"' for label in MARKER_LABELS.values()]
    words += [f'"{label}"' for label in (*ROLE_LABELS.values(), *CUE_RESPONSE_LABELS.values())]
    # (a status whose word is its id is compared by id in the scripts, which is no copy)
    words += [f'"{w}"' for s, w in SESSION_STATUS_LABELS.items() if w != s]
    for name in _PAGE_SCRIPTS:
        text = static.joinpath(name).read_text("utf-8")
        assert "config.vocab" in text, name
        copies = [w for w in words if w in text]
        assert copies == [], (name, copies)
    # The live page's modules read the words through live/vocab.js (CFG.vocab) and copy none.
    live = sorted(p for p in static.joinpath("live").iterdir() if p.name.endswith(".js"))
    assert "live/vocab.js" in [f"live/{p.name}" for p in live]
    assert "CFG.vocab" in static.joinpath("live", "vocab.js").read_text("utf-8")
    for path in live:
        copies = [w for w in words if w in path.read_text("utf-8")]
        assert copies == [], (path.name, copies)
