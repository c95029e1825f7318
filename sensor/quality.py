"""Keep the valid beats of a batch and turn its corrupt values into one counted device event.

A strap, a file or a stream can deliver a value that is no RR interval at all: ``0`` (a BLE
packet ``[0, 870]``), a negative number, NaN, infinity, ``1e308`` (the rule is
:func:`hrv.validate.corrupt_rr_mask`). Dropping the whole batch for it would lose the valid beats
next to it; storing it would break every sum downstream. :func:`split_corrupt` does neither: the
valid beats stay, in runs that keep their original sequence numbers (so a retried write is still
idempotent), and the corrupt values go into one :class:`~sensor.types.DeviceEvent` of kind
``"invalid_rr"`` whose ``value`` is how many there were and whose ``detail`` holds each one's
sequence number and value as received, so nothing is lost. The first valid beat after a corrupt
value is marked ``gap_before``: the interval between it and the previous stored beat is unknown,
and no successive difference may be taken across it.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from hrv.validate import corrupt_rr_mask
from sensor.types import BeatBatch, DeviceEvent

__all__ = ["INVALID_RR_EVENT", "split_corrupt"]

#: ``DeviceEvent.kind`` of the event that records the corrupt values of a batch.
INVALID_RR_EVENT: Final = "invalid_rr"


def split_corrupt(
    batch: BeatBatch, *, lines: tuple[int, ...] | None = None
) -> tuple[list[BeatBatch], DeviceEvent | None]:
    """Split a batch into its runs of valid beats and one event recording its corrupt values.

    Parameters
    ----------
    batch : BeatBatch
        As received.
    lines : tuple of int, optional
        The 1-based file line of each beat (file replay), recorded in the event.

    Returns
    -------
    (list of BeatBatch, DeviceEvent or None)
        The batch itself and None when every value is valid; else the maximal runs of valid
        beats (each with ``seq`` of its first beat as in the original batch; ``gap_before`` on
        a run that follows a corrupt value or that starts the batch when the batch had it) and
        an ``"invalid_rr"`` event at the batch's host time with ``value`` the number of
        corrupt values and ``detail`` ``{"count", "seq", "values", "raw"?, "lines"?}``
        (comma-separated, values as ``repr`` of the float received).

    Notes
    -----
    A beat whose reconstructed time is not finite is corrupt too (it cannot be placed).

    Examples
    --------
    >>> import numpy as np
    >>> b = BeatBatch("p", "dev", np.array([0.0, 870.0]), (0, 891), 10.0, np.array([9.13, 10.0]),
    ...               seq=4)
    >>> kept, event = split_corrupt(b)
    >>> [(k.rr_ms.tolist(), k.seq, k.gap_before, k.rr_raw) for k in kept]
    [([870.0], 5, True, (891,))]
    >>> event.kind, event.value, event.detail["seq"], event.detail["values"]
    ('invalid_rr', 1.0, '4', '0.0')
    """
    rr = np.asarray(batch.rr_ms, dtype=np.float64)
    times = np.asarray(batch.beat_times_s, dtype=np.float64)
    if rr.ndim != 1 or times.shape != rr.shape:
        return [batch], None  # malformed, not corrupt: the store refuses it with its reason
    bad = corrupt_rr_mask(rr) | ~np.isfinite(times)
    if not bad.any():
        return [batch], None
    idx = np.flatnonzero(bad)
    detail = {
        "count": str(idx.size),
        "seq": ",".join(str(batch.seq + int(i)) for i in idx),
        "values": ",".join(repr(float(rr[i])) for i in idx),
    }
    if batch.rr_raw is not None:
        detail["raw"] = ",".join(str(batch.rr_raw[i]) for i in idx)
    if lines is not None:
        detail["lines"] = ",".join(str(lines[i]) for i in idx)
    event = DeviceEvent(
        batch.participant,
        batch.device,
        INVALID_RR_EVENT,
        float(batch.host_time_s),
        value=float(idx.size),
        detail=detail,
    )
    kept: list[BeatBatch] = []
    good = ~bad
    # runs of valid beats: starts where good begins, ends where it stops
    edges = np.diff(np.concatenate(([False], good, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
        kept.append(
            BeatBatch(
                participant=batch.participant,
                device=batch.device,
                rr_ms=rr[lo:hi].copy(),
                rr_raw=None if batch.rr_raw is None else tuple(batch.rr_raw[lo:hi]),
                host_time_s=batch.host_time_s,
                beat_times_s=times[lo:hi].copy(),
                contact=batch.contact,
                heart_rate_bpm=batch.heart_rate_bpm,
                seq=batch.seq + lo,
                gap_before=lo > 0 or batch.gap_before,
            )
        )
    return kept, event
