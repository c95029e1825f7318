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
