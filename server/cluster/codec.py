"""Beat batches between processes: the owner's engine gets what another process stored.

A remote person's ingest connection may land on any process. That process stores the beats
first (idempotent: beats are keyed by session, participant, device and sequence number), then
publishes them on the session's ingest channel; the owner feeds them to its engine. The payload
is JSON with exact float64 round trips (``repr`` of a Python float is exact), so the owner
computes on the very values that were stored.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import numpy as np

from sensor.types import BeatBatch
from server.cluster.broker import BrokerError

__all__ = ["MAX_FORWARD_BEATS", "decode_batch", "encode_batch"]

#: Largest batch forwarded in one message (an ingest message holds at most a few hundred).
MAX_FORWARD_BEATS: Final[int] = 10_000


def encode_batch(participant_id: int, batch: BeatBatch) -> bytes:
    """The batch and the stored participant's id as one JSON document."""
    doc: dict[str, Any] = {
        "p": participant_id,
        "label": batch.participant,
        "device": batch.device,
        "rr_ms": batch.rr_ms.tolist(),
        "rr_raw": None if batch.rr_raw is None else list(batch.rr_raw),
        "host_time_s": batch.host_time_s,
        "t_s": batch.beat_times_s.tolist(),
        "contact": batch.contact,
        "hr": batch.heart_rate_bpm,
        "seq": batch.seq,
        "gap": batch.gap_before,
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def decode_batch(data: bytes) -> tuple[int, BeatBatch]:
    """Inverse of :func:`encode_batch`; :class:`BrokerError` on anything malformed."""
    try:
        doc = json.loads(data)
        pid = doc["p"]
        rr = np.asarray(doc["rr_ms"], dtype=np.float64)
        times = np.asarray(doc["t_s"], dtype=np.float64)
        raw = doc["rr_raw"]
        consistent = (
            isinstance(pid, int)
            and rr.ndim == 1
            and rr.shape == times.shape
            and len(rr) <= MAX_FORWARD_BEATS
            and isinstance(doc["seq"], int)
            and math.isfinite(float(doc["host_time_s"]))
        )
        if not consistent:
            raise BrokerError("inconsistent forwarded beat batch")
        batch = BeatBatch(
            participant=str(doc["label"]),
            device=str(doc["device"]),
            rr_ms=rr,
            rr_raw=None if raw is None else tuple(int(x) for x in raw),
            host_time_s=float(doc["host_time_s"]),
            beat_times_s=times,
            contact=None if doc["contact"] is None else bool(doc["contact"]),
            heart_rate_bpm=None if doc["hr"] is None else int(doc["hr"]),
            seq=int(doc["seq"]),
            gap_before=bool(doc["gap"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise BrokerError("malformed forwarded beat batch") from exc
    return pid, batch
