"""The project's vocabularies in words: one source for every page, figure and export.

The values themselves are the ``Literal`` types of the storage records and the API models (what
the database and the API accept, in ``server``); this module, below ``server`` in the layers,
gives each of them the words a person reads, in the order the pages show them.
The pages receive :func:`page_vocabulary` through their page configuration, so a marker type, a
consent purpose, a role or a cue response is spelled and worded in exactly one place. A test
(``tests/server/test_vocab.py``) checks that every ``Literal`` value has its words here, in the
``Literal``'s order, and that no word belongs to a value that no longer exists.

Wording rules (clinical): a marker records what the therapist observed or did, never what the
software inferred; consent wording says what is shown, stored and compared, and what is not.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "CONSENT_WORDS",
    "CUE_RESPONSE_LABELS",
    "MARKER_KEYS",
    "MARKER_LABELS",
    "MARKER_SHORT_LABELS",
    "PRIVACY_LABELS",
    "ROLE_LABELS",
    "SESSION_STATUS_LABELS",
    "ConsentWords",
    "page_vocabulary",
]


class ConsentWords:
    """How one consent purpose is named and explained, to the clinician and to the participant.

    Attributes
    ----------
    label : str
        Its name on the pages ("Live display").
    allows : str
        What it allows, for the setup page (third person: "this person's").
    without : str
        What does not happen without it, for the setup page's warning.
    without_live : str
        The same, shortened for the live page's banner.
    to_participant : str
        What it allows, addressed to the participant on their own join page (second person).
    """

    __slots__ = ("allows", "label", "to_participant", "without", "without_live")

    def __init__(
        self, label: str, allows: str, without: str, without_live: str, to_participant: str
    ) -> None:
        self.label = label
        self.allows = allows
        self.without = without
        self.without_live = without_live
        self.to_participant = to_participant

    def as_json(self) -> dict[str, str]:
        """The words as a JSON object (what the pages receive)."""
        return {
            "label": self.label,
            "allows": self.allows,
            "without": self.without,
            "without_live": self.without_live,
            "to_participant": self.to_participant,
        }


#: Each consent purpose (``server.storage.records.CONSENT_PURPOSES``) in words.
CONSENT_WORDS: Final[dict[str, ConsentWords]] = {
    "live_display": ConsentWords(
        "Live display",
        "Show this person's heart-rate trace on the therapist's screen during the session.",
        "their heart-rate trace is not shown during the session",
        "their trace is not shown here",
        "Your therapist sees your heart rate and a heart-rate-variability trace during the "
        "session. Without it, nothing of yours is shown.",
    ),
    "storage": ConsentWords(
        "Storage",
        "Keep this person's heartbeats from the session on this computer.",
        "none of their heartbeats is kept, so there is nothing to review or export afterwards",
        "their beats are not stored (nothing to review afterwards)",
        "Your beats (the time between heartbeats) are stored on your therapist's computer, "
        "never on a vendor's cloud. Without it, nothing is sent or stored.",
    ),
    "review": ConsentWords(
        "Review",
        "Let the therapist or their supervisor look back at the recording after the session.",
        "the recording cannot be looked at after the session",
        "the recording cannot be reviewed afterwards",
        "Your therapist may look at the stored beats after the session.",
    ),
    "research_export": ConsentWords(
        "Research",
        "Include the recording, without the code and without notes, in research data sets.",
        "the recording is left out of research data sets",
        "the recording is left out of research data sets",
        "De-identified beats may go into a research dataset (no name, no code, relative times "
        "only).",
    ),
    "synchrony": ConsentWords(
        "Co-regulation",
        "Compare this person's heart rhythm with the other person's, to see how the two adjust "
        "to each other.",
        "co-regulation with the other person is not computed, live or afterwards",
        "co-regulation is not computed",
        "Your heart-rate trace may be compared with your therapist's (co-regulation).",
    ),
}

#: Each role (``server.storage.records.ROLES``) as the pages name it.
ROLE_LABELS: Final[dict[str, str]] = {"patient": "Patient", "therapist": "Therapist"}

#: Each marker type (``server.models.MARKER_TYPES``) on figures, in the report and on the
#: live page's list. ``dissociation_observed`` is the therapist's own observation (Sack et al.
#: 2012); the software never infers it, and the label says whose observation it is.
MARKER_LABELS: Final[dict[str, str]] = {
    "rupture": "Rupture",
    "repair": "Repair",
    "silence": "Silence",
    "sudden_sleepiness": "Sudden sleepiness",
    "looking_away": "Looking away",
    "dissociation_observed": "Dissociation observed (the therapist's observation)",
    "grounding_done": "Grounding done",
    "breathing_exercise": "Breathing exercise",
    "note": "Note",
}

#: The same, short, for buttons and the live page's marker list.
MARKER_SHORT_LABELS: Final[dict[str, str]] = {
    **MARKER_LABELS,
    "dissociation_observed": "Dissociation observed",
}

#: The keyboard key of each marker button on the live page (``note`` has its own field).
MARKER_KEYS: Final[dict[str, str]] = {
    "rupture": "R",
    "repair": "E",
    "silence": "S",
    "sudden_sleepiness": "L",
    "looking_away": "A",
    "dissociation_observed": "D",
    "grounding_done": "G",
    "breathing_exercise": "B",
}

#: A therapist's answer to a suggested cue (``server.storage.records.CueResponse``).
CUE_RESPONSE_LABELS: Final[dict[str, str]] = {
    "acknowledged": "Done",
    "dismissed": "Not now",
}

#: Each session status (``server.storage.records.SessionStatus``) as the session list says it.
SESSION_STATUS_LABELS: Final[dict[str, str]] = {
    "planned": "planned",
    "live": "live",
    "stopped": "finished",
    "interrupted": "interrupted",
}

#: The privacy-pause events of the live page's event list.
PRIVACY_LABELS: Final[dict[str, str]] = {
    "privacy_pause": "Privacy pause",
    "privacy_resume": "Privacy resumed",
}


def page_vocabulary() -> dict[str, Any]:
    """Every vocabulary a page needs, as JSON (the ``vocab`` key of each page's configuration).

    Returns
    -------
    dict
        ``roles`` (list of ``{"id", "label"}``), ``consent_purposes`` (list of ``{"id", "label",
        "allows", "without", "without_live", "to_participant"}``), ``marker_types`` (list of
        ``{"id", "label", "short", "key"}``; ``key`` is null for ``note``), ``cue_responses``
        (list of ``{"id", "label"}``), ``session_statuses`` (status -> label) and ``privacy``
        (event type -> label). Lists keep the order
        of the ``Literal`` types (tested), which is the order the pages show.

    Examples
    --------
    >>> v = page_vocabulary()
    >>> [r["id"] for r in v["roles"]]
    ['patient', 'therapist']
    >>> v["marker_types"][0]["key"]
    'R'
    """
    return {
        "roles": [{"id": r, "label": label} for r, label in ROLE_LABELS.items()],
        "consent_purposes": [{"id": p, **w.as_json()} for p, w in CONSENT_WORDS.items()],
        "marker_types": [
            {
                "id": m,
                "label": MARKER_LABELS[m],
                "short": MARKER_SHORT_LABELS[m],
                "key": MARKER_KEYS.get(m),
            }
            for m in MARKER_LABELS
        ],
        "cue_responses": [{"id": r, "label": lab} for r, lab in CUE_RESPONSE_LABELS.items()],
        "session_statuses": dict(SESSION_STATUS_LABELS),
        "privacy": dict(PRIVACY_LABELS),
    }
