"""The per-phase cohort table recomputed from a research export's Parquet files (no database).

A de-identified research export (:func:`server.export.research.export_research` with
``format="parquet"`` or ``"both"``) is what leaves the clinic. :func:`cohort_from_export` turns
it back into one row per subject, session and phase, from the stored beats
(``beats.parquet``: session-relative beat times, RR, re-anchor flags) and the phases
(``events.parquet``, ``trial_type == "phase"``), through the same derivation as every other
output (:func:`hrv.derive.derive`, :func:`hrv.derive.interval_stats`). One job per recording
(the sessions recorded together, ``recording`` label), each reading only its row groups: run
here, or on Dask workers that can read the export directory
(:class:`~server.export.runner.SessionRunner`), with the same table.

The numbers equal ``phases.parquet`` (the report's) up to the export's rounding of times to 1 us;
``phases.parquet`` is the table to use as it is, this one is for re-deriving where only the export
is available (e.g. with other settings, or on a cluster that never sees the database).

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). J Med Eng Technol 43(3), 173-181.
.. [2] Task Force of the ESC and NASPE (1996). Circulation 93(5), 1043-1065.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from dashboard.phases import stat_bounds
from hrv.derive import StoredBeats, derive, interval_stats
from server.export.errors import ExportError
from server.export.runner import SessionRunner
from server.export.tables import Table, concat_tables

__all__ = ["EXPORT_COHORT_COLUMNS", "cohort_from_export", "export_cohort_task"]

#: Columns of :func:`cohort_from_export`: (name, unit, description).
EXPORT_COHORT_COLUMNS: Final[tuple[tuple[str, str, str], ...]] = (
    ("participant_id", "", "subject label of the export (sub-01 ...)"),
    ("session_id", "", "that subject's session label (ses-01 ...)"),
    ("recording", "", "label of the sessions recorded together (dyad-01 ...)"),
    ("role", "", "patient or therapist"),
    ("phase", "", "phase id"),
    ("phase_start_s", "s", "phase start from the session start"),
    ("phase_duration_s", "s", "phase duration"),
    ("n_beats", "", "stored beats in the phase"),
    ("mean_hr_bpm", "bpm", "mean heart rate of the corrected beats"),
    ("rmssd_ms", "ms", "RMSSD of the corrected beats, never across a gap"),
    ("ln_rmssd", "ln(ms)", "natural log of RMSSD"),
    ("artifact_pct", "%", "stored beats classified as artifacts or unusable"),
    ("lf_hf", "", "LF/HF (Welch) of the longest gap-free stretch if long enough, else empty"),
    ("irregular_pct", "%", "successive corrected RR differing by more than the limit"),
)
_KEYS: Final[tuple[str, ...]] = ("participant_id", "session_id", "recording", "role")


@dataclass(frozen=True, slots=True)
class _ExportJob:
    """One recording's work: file paths and a label only."""

    beats: str
    events: str
    recording: str
    lf_hf: bool


def _read(path: str, columns: list[str], recording: str) -> dict[str, Any]:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # optional (extra "export")

    table = pq.read_table(path, columns=columns, filters=[("recording", "==", recording)])
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def export_cohort_task(job: _ExportJob) -> Table:
    """The rows of one recording (every subject of it), read from the Parquet files."""
    b = _read(job.beats, [*_KEYS, "time_s", "rr_ms", "gap_before"], job.recording)
    e = _read(job.events, ["participant_id", "session_id", "trial_type", "value", "onset",
                           "duration"], job.recording)  # fmt: skip
    parts: list[Table] = []
    people = sorted(
        {(str(p), str(s)) for p, s in zip(b["participant_id"], b["session_id"], strict=True)}
    )
    for pid, ses in people:
        mine = (b["participant_id"] == pid) & (b["session_id"] == ses)
        ph = (e["participant_id"] == pid) & (e["session_id"] == ses) & (e["trial_type"] == "phase")
        order = np.argsort(e["onset"][ph], kind="stable")
        onset = np.asarray(e["onset"][ph], dtype=np.float64)[order]
        duration = np.asarray(e["duration"][ph], dtype=np.float64)[order]
        names = np.asarray(e["value"][ph], dtype=object)[order]
        d = derive(
            StoredBeats.from_arrays(
                b["time_s"][mine], b["rr_ms"][mine], np.asarray(b["gap_before"][mine]) != 0
            ),
            trace=False,
        )
        starts, ends = stat_bounds(onset.tolist(), (onset + duration).tolist())
        st = interval_stats(d, starts, ends, lf_hf=job.lf_hf)
        q = onset.shape[0]
        role = str(b["role"][mine][0])
        parts.append(
            {
                "participant_id": np.full(q, pid, dtype=object),
                "session_id": np.full(q, ses, dtype=object),
                "recording": np.full(q, job.recording, dtype=object),
                "role": np.full(q, role, dtype=object),
                "phase": names,
                "phase_start_s": onset,
                "phase_duration_s": duration,
                "n_beats": st.n_beats,
                "mean_hr_bpm": st.mean_hr_bpm,
                "rmssd_ms": st.rmssd_ms,
                "ln_rmssd": st.ln_rmssd,
                "artifact_pct": st.artifact_pct,
                "lf_hf": st.lf_hf,
                "irregular_pct": st.irregular_pct,
            }
        )
    return concat_tables(parts, [c for c, _, _ in EXPORT_COHORT_COLUMNS])


def cohort_from_export(
    export_dir: Path, *, lf_hf: bool = True, runner: SessionRunner | None = None
) -> Table:
    """Per-phase HRV of every subject of a research export, from its Parquet files.

    Parameters
    ----------
    export_dir : Path
        A research export written with ``format="parquet"`` or ``"both"``.
    lf_hf : bool
        Compute LF/HF.
    runner : SessionRunner, optional
        Run one job per recording there (e.g. Dask workers that can read ``export_dir``).

    Returns
    -------
    Table
        :data:`EXPORT_COHORT_COLUMNS`, recordings in label order, then subject and session
        labels, phases in time order.

    Raises
    ------
    ExportError
        If the directory holds no ``beats.parquet`` and ``events.parquet``.
    """
    import pyarrow.parquet as pq

    beats, events = export_dir / "beats.parquet", export_dir / "events.parquet"
    if not (beats.is_file() and events.is_file()):
        raise ExportError(
            f"{export_dir} holds no beats.parquet and events.parquet (export with "
            "--format parquet or both)"
        )
    labels = pq.read_table(beats, columns=["recording"]).column("recording").to_pylist()
    jobs = [
        _ExportJob(str(beats.resolve()), str(events.resolve()), label, lf_hf)
        for label in sorted(set(labels))
    ]
    parts = (
        list(runner.map(export_cohort_task, jobs))
        if runner is not None
        else [export_cohort_task(j) for j in jobs]
    )
    return concat_tables(parts, [c for c, _, _ in EXPORT_COHORT_COLUMNS])
