"""Therapeutic-alliance questionnaire scores (SRS, WAI-SR), item by item."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

import sqlalchemy as sa

from server.storage import schema as t
from server.storage.base import (
    StoreBase,
    check_choice,
    check_text,
)
from server.storage.errors import (
    InvalidRecordError,
)
from server.storage.records import (
    INSTRUMENTS,
    AllianceScore,
    Instrument,
)

__all__ = ["ALLIANCE_ITEM_RANGES", "AllianceMixin"]

#: Per instrument: number of items and the (min, max) item score. SRS: Duncan et al. (2003),
#: four visual-analogue items of 0-10 cm. WAI-SR: Hatcher & Gillaspy (2006), twelve items rated 1-5.
ALLIANCE_ITEM_RANGES: Final[Mapping[str, tuple[int, float, float]]] = {
    "SRS": (4, 0.0, 10.0),
    "WAI-SR": (12, 1.0, 5.0),
}


class AllianceMixin(StoreBase):
    """Alliance scores of :class:`~server.storage.store.Store`."""

    # ------------------------------------------------------------------ alliance scores

    def record_alliance_scores(
        self,
        session_id: int,
        participant_id: int,
        instrument: Instrument,
        version: str,
        scores: Mapping[int, float],
        *,
        at_s: float | None = None,
    ) -> list[AllianceScore]:
        """Record (or replace) one participant's item scores on one instrument for a session.

        Parameters
        ----------
        session_id, participant_id : int
        instrument : {"SRS", "WAI-SR"}
            Session Rating Scale (4 items, 0-10) or Working Alliance Inventory short revised
            (12 items, 1-5).
        version : str
            Version of the form the clinic uses.
        scores : mapping of int to float
            1-based item number to score; items may be missing (not answered).

        References
        ----------
        .. [1] Duncan, B. L. et al. (2003). The Session Rating Scale. Journal of Brief Therapy,
           3(1), 3-12.
        .. [2] Hatcher, R. L., & Gillaspy, J. A. (2006). Development and validation of a revised
           short version of the Working Alliance Inventory. Psychotherapy Research, 16(1), 12-25.
        """
        check_choice("instrument", instrument, INSTRUMENTS)
        check_text("version", version, 32)
        n_items, lo, hi = ALLIANCE_ITEM_RANGES[instrument]
        if not scores:
            raise InvalidRecordError("scores must hold at least one item, got none")
        for item, score in scores.items():
            if not 1 <= item <= n_items:
                raise InvalidRecordError(f"{instrument} items are 1-{n_items}, got item {item}")
            if not (math.isfinite(score) and lo <= score <= hi):
                raise InvalidRecordError(
                    f"{instrument} item {item} score must be in [{lo:g}, {hi:g}], got {score!r}"
                )
        now = self._at(at_s)
        a = t.alliance_scores
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            self._require(conn, t.participants, "participant", participant_id)
            conn.execute(
                sa.delete(a).where(
                    a.c.session_id == session_id,
                    a.c.participant_id == participant_id,
                    a.c.instrument == instrument,
                )
            )
            conn.execute(
                sa.insert(a),
                [
                    {
                        "session_id": session_id,
                        "participant_id": participant_id,
                        "instrument": instrument,
                        "version": version,
                        "item": item,
                        "score": float(score),
                        "recorded_at_s": now,
                    }
                    for item, score in sorted(scores.items())
                ],
            )
            rows = conn.execute(
                sa.select(a)
                .where(
                    a.c.session_id == session_id,
                    a.c.participant_id == participant_id,
                    a.c.instrument == instrument,
                )
                .order_by(a.c.item)
            )
            return [AllianceScore(**r._mapping) for r in rows]

    def list_alliance_scores(
        self,
        *,
        session_id: int | None = None,
        participant_id: int | None = None,
        instrument: Instrument | None = None,
    ) -> list[AllianceScore]:
        """Alliance scores by session, participant, instrument and item."""
        a = t.alliance_scores
        query = sa.select(a).order_by(a.c.session_id, a.c.participant_id, a.c.instrument, a.c.item)
        if session_id is not None:
            query = query.where(a.c.session_id == session_id)
        if participant_id is not None:
            query = query.where(a.c.participant_id == participant_id)
        if instrument is not None:
            query = query.where(a.c.instrument == instrument)
        with self._read() as conn:
            return [AllianceScore(**r._mapping) for r in conn.execute(query)]
