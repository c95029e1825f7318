"""EDF+ export of one session: RR and HR on a uniform grid, with phases, markers and cues.

Layout of the file (European Data Format plus, Kemp & Olivan 2003; written with pyedflib):

* one pair of signals per included participant, labelled ``RR <role>`` and ``HR <role>`` (with
  a number when two people share a role), sampled at :data:`EDF_RATE_HZ` (4 Hz) in data records
  of 1 s;
* ``RR`` is the artifact-corrected RR interval (ms), linearly interpolated between the corrected
  beats' times (the tachogram); ``HR = 60000 / RR`` (bpm) on the same grid;
* physical range ``RR`` 0-3000 ms, ``HR`` 0-300 bpm, digital range -32768..32767 (16 bits): one
  digital step is 3000 / 65535 = 0.046 ms of RR and 0.0046 bpm of HR;
* **no data** (before the first beat, after the last, and inside a gap between beats longer than
  2.5 s, the longest plausible RR) is the digital minimum, i.e. the physical minimum 0 (read back
  as 0 up to about 1e-13 of scaling rounding): no real RR is below 250 ms nor HR below 24 bpm, so
  a reader masks values below 1;
* the file starts at the session start rounded down to the whole second (EDF's start time has
  1 s resolution), written as UTC date and time (EDF has no time zone field), and every sample
  and annotation time is relative to that;
* header: patient ``X`` (EDF+ "unknown"; codes are not written), recording "session-ID";
* EDF+ annotations: ``phase <id>`` with its duration, ``marker <type> <role>``,
  ``cue <rule> <response>`` and ``device <kind> <role>`` at their times (onsets are stored to
  0.1 ms); marker notes and cue texts are not written (annotations are short labels).

References
----------
.. [1] Kemp B, Olivan J (2003). European data format 'plus' (EDF+), an EDF alike standard format
   for the exchange of physiological data. Clinical Neurophysiology 114(9), 1755-1761.
.. [2] Kemp B, Varri A, Rosa AC, Nielsen KD, Gade J (1992). A simple format for exchange of
   digitized polygraphic recordings. Electroencephalography and Clinical Neurophysiology 82(5),
   391-393.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from hrv.validate import PLAUSIBLE_RR_MAX_MS
from server.export.clinical import SessionExport
from server.export.errors import ExportError, NothingToExportError
from server.readmodel import SessionRecord, load_session_record
from server.storage import ConsentPurpose, Store

__all__ = [
    "EDF_DIGITAL_RANGE",
    "EDF_HR_RANGE_BPM",
    "EDF_RATE_HZ",
    "EDF_RR_RANGE_MS",
    "MAX_GAP_S",
    "EdfSignal",
    "edf_signals",
    "tachogram_on_grid",
    "write_session_edf",
]

_log = logging.getLogger(__name__)

#: Sampling rate of the RR and HR signals, Hz (the usual rate of an evenly resampled tachogram:
#: Task Force 1996; Kubios).
EDF_RATE_HZ: Final[float] = 4.0
#: Physical range of the RR signals, ms (plausible RR is 250-2500 ms; 0 means no data).
EDF_RR_RANGE_MS: Final[tuple[float, float]] = (0.0, 3000.0)
#: Physical range of the HR signals, bpm (plausible HR is 24-240 bpm; 0 means no data).
EDF_HR_RANGE_BPM: Final[tuple[float, float]] = (0.0, 300.0)
#: Digital range of every signal (EDF stores 16-bit two's complement integers).
EDF_DIGITAL_RANGE: Final[tuple[int, int]] = (-32768, 32767)
#: Longest interval between two corrected beats that is interpolated across, s; a longer one is a
#: dropout and its samples are "no data".
MAX_GAP_S: Final[float] = PLAUSIBLE_RR_MAX_MS / 1000.0
_MS_PER_MIN: Final[float] = 60_000.0
#: EDFlib keeps at most this many characters of an annotation's text.
_MAX_ANNOTATION_CHARS: Final[int] = 40


@dataclass(frozen=True, eq=False, slots=True)
class EdfSignal:
    """One signal as it goes into the file (physical values; 0 where there is no data).

    Attributes
    ----------
    label : str
        EDF label, e.g. ``"RR patient"``.
    unit : str
        ``"ms"`` or ``"bpm"``.
    physical_range : tuple of float
    values : numpy.ndarray
        One value per sample, physical units.
    """

    label: str
    unit: str
    physical_range: tuple[float, float]
    values: NDArray[np.float64]


def tachogram_on_grid(
    rr_ms: NDArray[np.float64],
    time_s: NDArray[np.float64],
    grid_s: NDArray[np.float64],
    *,
    max_gap_s: float = MAX_GAP_S,
) -> NDArray[np.float64]:
    """RR linearly interpolated at the grid times, NaN where there is no data.

    Parameters
    ----------
    rr_ms : numpy.ndarray
        (Corrected) RR intervals, ms.
    time_s : numpy.ndarray
        Their beat times, s, non-decreasing.
    grid_s : numpy.ndarray
        Sample times, s.
    max_gap_s : float
        Grid times inside an interval between beats longer than this are NaN.

    Returns
    -------
    numpy.ndarray
        RR at the grid times, ms; NaN before the first beat, after the last and in gaps.

    Notes
    -----
    For ``t_{k-1} <= g <= t_k``:
    ``RR(g) = RR_{k-1} + (RR_k - RR_{k-1}) (g - t_{k-1}) / (t_k - t_{k-1})``.

    Examples
    --------
    >>> tachogram_on_grid(np.array([1000.0, 1200.0]), np.array([1.0, 2.2]),
    ...                   np.array([0.5, 1.0, 1.6, 2.2, 2.5])).round(6).tolist()
    [nan, 1000.0, 1100.0, 1200.0, nan]
    """
    out = np.full(grid_s.shape, np.nan)
    if rr_ms.shape[0] == 0:
        return out
    inside = (grid_s >= time_s[0]) & (grid_s <= time_s[-1])
    out[inside] = np.interp(grid_s[inside], time_s, rr_ms)
    # the beat interval each grid time falls in: (t[k-1], t[k]]
    k = np.clip(np.searchsorted(time_s, grid_s, side="left"), 1, max(time_s.shape[0] - 1, 1))
    if time_s.shape[0] > 1:
        gap = (time_s[k] - time_s[k - 1]) > max_gap_s
        out[inside & gap & (grid_s > time_s[k - 1])] = np.nan
    return out


def _labels(roles: list[str]) -> list[str]:
    counts = Counter(roles)
    seen: Counter[str] = Counter()
    out = []
    for r in roles:
        seen[r] += 1
        out.append(r if counts[r] == 1 else f"{r} {seen[r]}")
    return out


def edf_signals(
    data: SessionRecord, *, rate_hz: float = EDF_RATE_HZ
) -> tuple[float, NDArray[np.float64], list[EdfSignal]]:
    """The signals of a session's EDF+ file, before digitisation.

    Returns
    -------
    origin_s : float
        File start on the store's clock: the session start rounded down to a whole second.
    grid_s : numpy.ndarray
        Sample times relative to ``origin_s``, s (whole 1 s records).
    signals : list of EdfSignal
        ``RR <role>`` and ``HR <role>`` of each participant, physical units, 0 for no data.
    """
    if not (math.isfinite(rate_hz) and rate_hz > 0 and float(rate_hz).is_integer()):
        raise ExportError(f"rate_hz must be a whole positive number of Hz, got {rate_hz!r}")
    origin = math.floor(data.start_s)
    n_records = max(1, math.ceil(data.end_s - origin))
    grid = np.arange(int(n_records * rate_hz), dtype=np.float64) / rate_hz
    signals: list[EdfSignal] = []
    labels = _labels([p.participant.role for p in data.participants])
    for person, label in zip(data.participants, labels, strict=True):
        d = person.derivation(trace=False)
        rr = tachogram_on_grid(d.c_rr_ms, d.c_time_s + (data.start_s - origin), grid)
        with np.errstate(divide="ignore", invalid="ignore"):
            hr = _MS_PER_MIN / rr
        signals.append(EdfSignal(f"RR {label}", "ms", EDF_RR_RANGE_MS, np.nan_to_num(rr, nan=0.0)))
        signals.append(
            EdfSignal(f"HR {label}", "bpm", EDF_HR_RANGE_BPM, np.nan_to_num(hr, nan=0.0))
        )
    return float(origin), grid, signals


def _annotations(data: SessionRecord, origin: float) -> list[tuple[float, float, str]]:
    """(onset s, duration s or -1, text) of every annotation, relative to ``origin``."""
    roles = {p.participant.id: p.participant.role for p in data.participants}
    out: list[tuple[float, float, str]] = [
        (ph.start_s - origin, ph.duration_s, f"phase {ph.name}") for ph in data.phases
    ]
    for m in data.markers:
        who = roles.get(m.participant_id, "") if m.participant_id is not None else ""
        out.append((m.time_s - origin, -1.0, f"marker {m.type} {who}".strip()))
    for c in data.cues:
        out.append((c.shown_at_s - origin, -1.0, f"cue {c.rule} {c.response or ''}".strip()))
    for d in data.device_events:
        who = roles.get(d.participant_id, "") if d.participant_id is not None else ""
        out.append((d.time_s - origin, -1.0, f"device {d.kind} {who}".strip()))
    out.sort(key=lambda a: a[0])
    return [(max(0.0, t), d, text[:_MAX_ANNOTATION_CHARS]) for t, d, text in out]


def write_session_edf(
    store: Store,
    session_id: int,
    path: Path,
    *,
    actor: str = "system",
    purpose: ConsentPurpose = "review",
    rate_hz: float = EDF_RATE_HZ,
) -> SessionExport:
    """Write one session as an EDF+ file (see the module docstring for the layout).

    Parameters
    ----------
    store : Store
    session_id : int
    path : Path
        Output file (overwritten).
    actor : str
        Who exports (audit log).
    purpose : {"review", "research_export", ...}
        The consent each participant needs (default ``"review"``).
    rate_hz : float
        Sampling rate, a whole number of Hz (default 4).

    Returns
    -------
    SessionExport
        ``n_beats`` counts the stored beats behind the signals, ``n_events`` the annotations.

    Raises
    ------
    NothingToExportError
        When no participant of the session has the consent.

    Notes
    -----
    Digitisation (EDF): ``d = dmin + (p - pmin) (dmax - dmin) / (pmax - pmin)``, stored as an
    integer; pyedflib truncates, so a value read back differs from the one written by less than
    one digital step ``(pmax - pmin) / (dmax - dmin)`` [1]_.

    References
    ----------
    .. [1] Kemp B, Olivan J (2003). Clinical Neurophysiology 114(9), 1755-1761.
    """
    import pyedflib  # optional dependency (extra "export")

    data = load_session_record(store, session_id, purpose=purpose)
    if not data.participants:
        raise NothingToExportError(
            f"session {session_id}: no participant has an active {purpose} consent "
            f"({len(data.excluded)} left out)",
            excluded=len(data.excluded),
        )
    origin, _, signals = edf_signals(data, rate_hz=rate_hz)
    annotations = _annotations(data, origin)
    headers: list[dict[str, Any]] = [
        {
            "label": s.label,
            "dimension": s.unit,
            "sample_frequency": rate_hz,
            "physical_min": s.physical_range[0],
            "physical_max": s.physical_range[1],
            "digital_min": EDF_DIGITAL_RANGE[0],
            "digital_max": EDF_DIGITAL_RANGE[1],
            "transducer": "HR strap RR (corrected)",
            "prefilter": "linear interpolation",
        }
        for s in signals
    ]
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        writer.setSignalHeaders(headers)
        writer.setStartdatetime(dt.datetime.fromtimestamp(origin, tz=dt.UTC).replace(tzinfo=None))
        writer.setPatientCode("X")
        writer.setEquipment("Sintonia")
        writer.setRecordingAdditional(f"session-{session_id}")
        writer.writeSamples([np.ascontiguousarray(s.values) for s in signals])
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()
    n_beats = sum(len(p.beats) for p in data.participants)
    store.audit(
        actor,
        "export.edf",
        "session",
        session_id,
        {
            "participants": [p.participant.id for p in data.participants],
            "excluded": len(data.excluded),
            "purpose": purpose,
            "files": [path.name],
            "rate_hz": rate_hz,
        },
    )
    _log.info("session %d exported as EDF+: %d signals", session_id, len(signals))
    return SessionExport(
        session_id,
        (path,),
        tuple(p.participant.code for p in data.participants),
        len(data.excluded),
        n_beats,
        len(annotations),
    )
