"""Exports of stored sessions: per-session CSV and EDF+, a de-identified research export, cohorts.

* :func:`write_session_csv` (:mod:`~server.export.clinical`): one session's beats (raw,
  corrected, artifact class, derived metrics, arousal) and events as CSV, for the clinic.
* :func:`write_session_edf` (:mod:`~server.export.edf`): RR and HR on a 4 Hz grid with EDF+
  annotations for phases, markers, cues and device events (pyedflib).
* :func:`export_research` (:mod:`~server.export.research`): many sessions, de-identified, as a
  BIDS-like tree of TSV files with JSON sidecars and/or Parquet tables (pyarrow); needs each
  person's ``research_export`` consent.
* :func:`cohort_table` (:mod:`~server.export.cohort`): one row per session, participant and
  phase with HRV metrics and alliance scores, computed in bulk.

Every export applies a consent rule (people without it are left out and counted) and writes an
audit-log entry. pyedflib and pyarrow are optional (``pip install 'sintonia[export]'``) and
imported only by the functions that need them.
"""

from __future__ import annotations

from server.export.clinical import SessionExport, write_session_csv
from server.export.cohort import CohortTable, alliance_totals, cohort_table, read_beats_bulk
from server.export.edf import edf_signals, tachogram_on_grid, write_session_edf
from server.export.errors import ExportError, NothingToExportError
from server.export.research import ResearchExport, export_research

__all__ = [
    "CohortTable",
    "ExportError",
    "NothingToExportError",
    "ResearchExport",
    "SessionExport",
    "alliance_totals",
    "cohort_table",
    "edf_signals",
    "export_research",
    "read_beats_bulk",
    "tachogram_on_grid",
    "write_session_csv",
    "write_session_edf",
]
