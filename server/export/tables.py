"""Column tables shared by the CSV, TSV and Parquet writers.

A table is an ordered mapping from column name to a 1-D numpy array (all of one length); the
writers only format it. :data:`BEAT_COLUMNS` and :data:`EVENT_COLUMNS` document every column with
its unit, and the JSON sidecars of the research export are generated from them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
from numpy.typing import NDArray

from hrv.arousal import STATE_CODES, ArousalConfig
from hrv.artifacts import BeatClass
from hrv.derive import (
    IRREGULAR_CHANGE,
    IRREGULAR_PCT_LIMIT,
    LF_HF_MIN_DURATION_S,
    PerBeat,
    per_beat,
)
from hrv.stream import StreamConfig
from server.readmodel import PersonRecord, SessionRecord
from server.storage.records import RR_RAW_MISSING

__all__ = [
    "ARTIFACT_NAMES",
    "BEAT_COLUMNS",
    "EVENT_COLUMNS",
    "PHASE_COLUMNS",
    "TIME_DECIMALS",
    "Table",
    "beat_columns",
    "beat_table",
    "concat_tables",
    "derive_participant",
    "event_table",
    "format_value",
    "nullable_int",
    "phase_table",
    "relative_time",
    "write_delimited",
]

Table = dict[str, NDArray[Any]]

#: Rows formatted and written at a time by :func:`write_delimited`.
_ROWS_PER_WRITE: Final[int] = 8192
#: Decimals of the times written relative to the session start (1 us).
TIME_DECIMALS: Final[int] = 6

#: Artifact class names by :class:`hrv.artifacts.BeatClass` value.
ARTIFACT_NAMES: Final[tuple[str, ...]] = tuple(c.name.lower() for c in BeatClass)


def _num(x: float) -> str:
    """A setting as written in names and descriptions (``10.0`` -> ``10``)."""
    return f"{x:g}"


def beat_columns(
    stream: StreamConfig | None = None, arousal: ArousalConfig | None = None
) -> tuple[tuple[str, str, str], ...]:
    """Every column of the per-session beats table: (name, unit, description).

    The window lengths and thresholds in the names and descriptions are read from the settings
    the derivation uses (:class:`hrv.stream.StreamConfig`, :class:`hrv.arousal.ArousalConfig`;
    their defaults, as live, when omitted), so they cannot disagree with the numbers.
    """
    c = stream if stream is not None else StreamConfig()
    a = arousal if arousal is not None else ArousalConfig()
    hr, rm = _num(c.hr_window_s), _num(c.rmssd_window_s)
    return (
        ("participant", "", "pseudonymous participant code"),
        ("role", "", "patient or therapist"),
        ("device", "", "device identifier (BLE address, simulator, file)"),
        ("seq", "", "sequence number of the beat within its device stream"),
        ("beat_time_s", "s", "reconstructed beat time (end of the RR interval), Unix epoch"),
        ("session_time_s", "s", "beat time minus the session start"),
        ("host_time_s", "s", "host receipt time of the notification, Unix epoch"),
        ("rr_raw", "1/1024 s", "RR exactly as received (empty where the source gave none)"),
        ("rr_ms", "ms", "RR interval as stored"),
        ("contact", "", "skin contact: 1 yes, 0 no, -1 not reported"),
        ("gap_before", "", "1 where beat times were re-anchored (first beat, dropout, reconnect)"),
        ("artifact", "", "artifact class: " + ", ".join(ARTIFACT_NAMES)),
        ("rr_corrected_ms", "ms", "mean of the corrected intervals ending at this beat"),
        ("n_corrected", "", "corrected intervals ending at this beat (0 merged, k split)"),
        (
            f"mean_hr_{hr}s_bpm",
            "bpm",
            f"mean heart rate over the trailing {hr} s of corrected beats",
        ),
        (f"rmssd_{rm}s_ms", "ms", f"RMSSD over the trailing {rm} s of corrected beats"),
        (f"ln_rmssd_{rm}s", "ln(ms)", f"natural log of rmssd_{rm}s_ms"),
        (f"artifact_fraction_{rm}s", "", f"fraction of artifacts in the trailing {rm} s, 0-1"),
        ("quality", "", f"signal quality over the trailing {rm} s, 0-1"),
        (
            "valid",
            "",
            f"1 where the windows hold at least {c.min_beats_hr} (HR) and {c.min_beats_rmssd} "
            f"(RMSSD) beats and artifacts at most {_num(100.0 * c.max_artifact_fraction)} %",
        ),
        (
            "arousal_index",
            "z",
            f"arousal index against the first {_num(a.baseline_s / 60.0)} min (resting "
            f"baseline), smoothed with a {_num(a.tau_s)} s time constant",
        ),
        ("arousal_confidence", "", "confidence of the arousal index, 0-1"),
        (
            "arousal_state",
            "",
            ", ".join(STATE_CODES) + f" (usual activation; held for {_num(a.persistence_s)} s)",
        ),
    )


#: The columns of :func:`beat_columns` with the default settings.
BEAT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = beat_columns()

#: Every column of the per-phase summary table: (name, unit, description). The numbers are those
#: of the report and the cohort table (:meth:`server.readmodel.SessionRecord.phase_stats`).
PHASE_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("participant", "", "pseudonymous participant code"),
    ("role", "", "patient or therapist"),
    ("phase_index", "", "position of the phase in the template"),
    ("phase", "", "phase id"),
    ("phase_start_s", "s", "phase start from the session start"),
    ("phase_duration_s", "s", "phase duration"),
    ("planned", "", "1 when no phase event was recorded and the phase is the template's plan"),
    ("n_beats", "", "stored beats in the phase"),
    ("mean_hr_bpm", "bpm", "mean heart rate of the corrected beats (as sintonia analyze)"),
    ("rmssd_ms", "ms", "RMSSD of the corrected beats, never across a gap"),
    ("ln_rmssd", "ln(ms)", "natural log of RMSSD"),
    ("artifact_pct", "%", "stored beats classified as artifacts or unusable"),
    (
        "lf_hf",
        "",
        "LF/HF (Welch) of the longest gap-free stretch if >= "
        f"{_num(LF_HF_MIN_DURATION_S)} s, else empty",
    ),
    (
        "irregular_pct",
        "%",
        f"successive corrected RR differing by > {_num(100.0 * IRREGULAR_CHANGE)} % (above "
        f"{_num(IRREGULAR_PCT_LIMIT)}: not sinus)",
    ),
)

#: Every column of the per-session events table: (name, unit, description).
EVENT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("session_time_s", "s", "event time minus the session start"),
    ("time_s", "s", "event time, Unix epoch"),
    ("event", "", "phase_enter, phase_extend, phase_end, marker, cue or device"),
    ("participant", "", "pseudonymous code of the participant concerned, if any"),
    ("role", "", "role of that participant"),
    ("name", "", "phase id, marker type, cue rule or device event kind"),
    ("value", "", "phase index, extension (s), or the device event's value"),
    ("device", "", "device identifier of a device event"),
    ("text", "", "marker note, cue text, or device event detail (JSON)"),
    ("response", "", "therapist's response to a cue: acknowledged or dismissed"),
    ("response_session_time_s", "s", "when the cue was answered, minus the session start"),
)


def derive_participant(person: PersonRecord, *, arousal: bool = True) -> PerBeat:
    """Per-beat derived values of one included participant (:func:`hrv.derive.per_beat` of the
    session read model's derivation: the same one the review uses)."""
    return per_beat(person.derivation(trace=True, arousal=arousal))


def beat_table(
    data: SessionRecord, derived: Sequence[PerBeat] | None = None, *, arousal: bool = True
) -> Table:
    """The beats of every included participant with the derived columns (:data:`BEAT_COLUMNS`).

    Parameters
    ----------
    data : SessionRecord
    derived : sequence of PerBeat, optional
        One per ``data.participants`` (computed when omitted).
    arousal : bool
        Replay the arousal tracker when ``derived`` is computed here.

    Returns
    -------
    Table
        Rows grouped by participant (in ``data.participants`` order), each in beat-time order.
    """
    if derived is None:
        derived = [derive_participant(p, arousal=arousal) for p in data.participants]
    names = [c[0] for c in beat_columns()]  # the settings the derivation used: the defaults
    parts: list[Table] = []
    for person, d in zip(data.participants, derived, strict=True):
        b = person.beats
        n = len(b)
        raw = nullable_int(b.rr_raw, RR_RAW_MISSING)
        values = (
            np.full(n, person.participant.code, dtype=object),
            np.full(n, person.participant.role, dtype=object),
            b.device.astype(object),
            b.seq,
            b.beat_time_s,
            relative_time(b.beat_time_s, data.start_s),
            b.host_time_s,
            raw,
            b.rr_ms,
            b.contact.astype(np.int64),
            b.gap_before.astype(np.int64),
            np.array(ARTIFACT_NAMES, dtype=object)[d.artifact],
            d.rr_corrected_ms,
            d.n_corrected,
            d.mean_hr_bpm,
            d.rmssd_ms,
            d.ln_rmssd,
            d.artifact_fraction,
            d.quality,
            d.valid.astype(np.int64),
            d.arousal_index,
            d.arousal_confidence,
            np.array(STATE_CODES, dtype=object)[d.arousal_state],
        )
        parts.append(dict(zip(names, values, strict=True)))
    return concat_tables(parts, names)


def phase_table(data: SessionRecord, *, lf_hf: bool = True) -> Table:
    """Per-phase HRV of every included participant (:data:`PHASE_COLUMNS`), times relative to
    the session start: the same numbers as the report and the cohort table."""
    parts: list[Table] = []
    phases = data.relative_phases()
    q = len(phases)
    for person in data.participants:
        st = data.phase_stats(person, lf_hf=lf_hf)
        parts.append(
            {
                "participant": np.full(q, person.participant.code, dtype=object),
                "role": np.full(q, person.participant.role, dtype=object),
                "phase_index": np.array([p.index for p in phases], dtype=np.int64),
                "phase": np.array([p.name for p in phases], dtype=object),
                "phase_start_s": np.round([p.start_s for p in phases], TIME_DECIMALS),
                "phase_duration_s": np.round([p.duration_s for p in phases], TIME_DECIMALS),
                "planned": np.array([int(p.planned) for p in phases], dtype=np.int64),
                "n_beats": st.n_beats,
                "mean_hr_bpm": st.mean_hr_bpm,
                "rmssd_ms": st.rmssd_ms,
                "ln_rmssd": st.ln_rmssd,
                "artifact_pct": st.artifact_pct,
                "lf_hf": st.lf_hf,
                "irregular_pct": st.irregular_pct,
            }
        )
    return concat_tables(parts, [c[0] for c in PHASE_COLUMNS])


def relative_time(time_s: NDArray[np.float64], start_s: float) -> NDArray[np.float64]:
    """Seconds from ``start_s``, rounded to :data:`TIME_DECIMALS` decimals (1 us).

    Epoch times in float64 carry about 0.2 us of resolution; the rounding removes the digits of
    the subtraction that mean nothing (``1.0682849884033203`` becomes ``1.068285``).

    Examples
    --------
    >>> relative_time(np.array([1700000001.068285]), 1700000000.0).tolist()
    [1.068285]
    """
    return np.round(np.asarray(time_s, dtype=np.float64) - start_s, TIME_DECIMALS)


def nullable_int(values: NDArray[np.int64], missing: int) -> NDArray[Any]:
    """Integers as Python ints in an object array, None where ``values == missing``."""
    out = np.array(values.tolist(), dtype=object)
    out[values == missing] = None
    return out


def concat_tables(parts: Sequence[Table], columns: Sequence[str]) -> Table:
    """Join tables with the same columns end to end (an empty list gives empty columns)."""
    if not parts:
        return {c: np.empty(0, dtype=object) for c in columns}
    return {c: np.concatenate([p[c] for p in parts]) for c in columns}


def event_table(data: SessionRecord) -> Table:
    """Phases, markers, cues (with responses) and device events in time order.

    Columns: :data:`EVENT_COLUMNS`.

    Markers, cues and device events about a participant who is not included were already left
    out by :func:`server.readmodel.load_session_record`.
    """
    people = {p.participant.id: p.participant for p in data.participants}
    rows: list[dict[str, Any]] = []

    def who(pid: int | None) -> tuple[str | None, str | None]:
        if pid is None or pid not in people:
            return None, None
        return people[pid].code, people[pid].role

    for e in data.phase_events:
        rows.append(
            {
                "time_s": e.time_s,
                "event": f"phase_{e.action}",
                "name": e.phase_name,
                "value": e.extend_s if e.action == "extend" else float(e.phase_index),
            }
        )
    for m in data.markers:
        code, role = who(m.participant_id)
        rows.append(
            {
                "time_s": m.time_s,
                "event": "marker",
                "participant": code,
                "role": role,
                "name": m.type,
                "text": m.note,
            }
        )
    for c in data.cues:
        code, role = who(c.participant_id)
        rows.append(
            {
                "time_s": c.shown_at_s,
                "event": "cue",
                "participant": code,
                "role": role,
                "name": c.rule,
                "text": c.text,
                "response": c.response,
                "response_session_time_s": (
                    None if c.responded_at_s is None else c.responded_at_s - data.start_s
                ),
            }
        )
    for d in data.device_events:
        code, role = who(d.participant_id)
        rows.append(
            {
                "time_s": d.time_s,
                "event": "device",
                "participant": code,
                "role": role,
                "name": d.kind,
                "value": d.value,
                "device": d.device,
                "text": json.dumps(d.detail, sort_keys=True) if d.detail else None,
            }
        )
    rows.sort(key=lambda r: float(r["time_s"]))
    for r in rows:
        r["session_time_s"] = round(float(r["time_s"]) - data.start_s, TIME_DECIMALS)
    return {c: _column([r.get(c) for r in rows]) for c, _, _ in EVENT_COLUMNS}


def _column(values: list[Any]) -> NDArray[Any]:
    """A float column where every value is a number or None (None as NaN), else objects."""
    if values and all(v is None or isinstance(v, float | int) for v in values):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def format_value(value: Any) -> str:
    """One cell as text: empty for None/NaN, shortest round-trip repr for floats.

    Examples
    --------
    >>> format_value(0.1), format_value(float("nan")), format_value(None), format_value(3)
    ('0.1', '', '', '3')
    """
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    return str(value)


def _quote(text: str, delimiter: str) -> str:
    """A cell as the csv module writes it (QUOTE_MINIMAL): quoted only when it must be."""
    if delimiter in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _column_text(col: NDArray[Any], na: str, delimiter: str) -> list[str]:
    """One column as cells, formatted column by column (no per-cell type dispatch)."""
    if col.dtype.kind == "f":
        return [repr(v) if v == v else na for v in col.tolist()]
    if col.dtype.kind in "iu":
        return [str(v) for v in col.tolist()]
    if col.dtype.kind == "b":
        return [str(int(v)) for v in col.tolist()]
    return [
        na if (cell := format_value(v)) == "" else _quote(cell, delimiter) for v in col.tolist()
    ]


def write_delimited(
    table: Mapping[str, NDArray[Any]],
    target: Path | IO[str],
    *,
    delimiter: str = ",",
    header: bool = True,
) -> int:
    """Write a table as CSV (``delimiter=","``) or TSV (``"\\t"``); returns the rows written.

    Missing values (None, NaN) are empty cells in CSV and ``n/a`` in TSV (the BIDS convention);
    floats are written in their shortest round-trip form (``repr``), so reading them back gives
    the same float64 values (pandas: ``float_precision="round_trip"``). Text cells are quoted as
    the csv module quotes them (only when they hold the delimiter, a quote or a line break).
    """
    na = "n/a" if delimiter == "\t" else ""
    columns = [_column_text(np.asarray(table[c]), na, delimiter) for c in table]
    n = len(columns[0]) if columns else 0

    def write(fh: IO[str]) -> int:
        if header:
            fh.write(delimiter.join(_quote(c, delimiter) for c in table) + "\n")
        for start in range(0, n, _ROWS_PER_WRITE):
            block = zip(*(c[start : start + _ROWS_PER_WRITE] for c in columns), strict=True)
            fh.write("".join(delimiter.join(row) + "\n" for row in block))
        return n

    if isinstance(target, Path):
        with target.open("w", newline="", encoding="utf-8") as fh:
            return write(fh)
    return write(target)
