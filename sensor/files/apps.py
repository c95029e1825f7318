"""The RR exports of other HRV software: Kubios HRV reports, Polar Sensor Logger, HRV Logger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import numpy as np

from sensor.errors import MalformedFileError
from sensor.files._common import (
    MS_PER_S,
    line_array,
    numeric_table,
    parse_datetime,
)
from sensor.files.recording import RRRecording

__all__ = [
    "HRV_LOGGER_COLUMNS",
    "POLAR_HEADER",
    "looks_like_kubios",
    "parse_hrv_logger",
    "parse_kubios",
    "parse_polar",
]

#: The header of a Polar Sensor Logger RR export (lower case, compared without spaces).
POLAR_HEADER: Final[str] = "phone timestamp;rr-interval [ms]"
#: The columns of an HRV Logger RR export.
HRV_LOGGER_COLUMNS: Final[tuple[str, ...]] = ("date", "rr", "since start")


def looks_like_kubios(lines: Sequence[str]) -> bool:
    """A Kubios HRV report: "Kubios" near the top and an "RR INTERVAL DATA" table."""
    head = "\n".join(lines[:12]).lower()
    return "kubios" in head and any("rr interval data" in ln.lower() for ln in lines)


def parse_kubios(name: str, lines: Sequence[str]) -> RRRecording:
    """The RR table of a Kubios HRV text report: ``Time (s)`` and ``RR interval (s)`` columns."""
    start: datetime | None = None
    table_at: int | None = None
    for i, line in enumerate(lines):
        low = line.lower()
        if low.startswith("measurement date:"):
            start = parse_datetime(line.split(":", 1)[1].strip())
        if "rr interval data" in low:
            table_at = i
            break
    if table_at is None:  # pragma: no cover - guarded by looks_like_kubios
        raise MalformedFileError(name, "Kubios report without an 'RR INTERVAL DATA' table")
    time_col = rr_col = -1
    data_from = -1
    for i in range(table_at + 1, min(table_at + 8, len(lines))):
        cells = [c.strip().lower() for c in lines[i].split(",")]
        if "time" in cells and "rr interval" in cells:
            time_col, rr_col = cells.index("time"), cells.index("rr interval")
            data_from = i + 2  # the next line holds the units "(s)"
            unit_cells = [c.strip() for c in lines[i + 1].split(",")] if i + 1 < len(lines) else []
            if len(unit_cells) <= rr_col or unit_cells[rr_col] != "(s)":
                raise MalformedFileError(
                    name,
                    f"expected the unit '(s)' under 'RR interval', found "
                    f"{unit_cells[rr_col] if len(unit_cells) > rr_col else 'nothing'!r}",
                    line=i + 2,
                )
            break
    if data_from < 0:
        raise MalformedFileError(
            name, "Kubios RR table without 'Time' and 'RR interval' columns", line=table_at + 1
        )
    rows: list[list[str]] = []
    numbers: list[int] = []
    for i in range(data_from, len(lines)):
        cells = lines[i].split(",")
        if len(cells) <= rr_col or not cells[rr_col].strip():
            break  # end of the RR rows (the spectrum columns may run longer or shorter)
        rows.append([cells[time_col].strip(), cells[rr_col].strip()])
        numbers.append(i + 1)
    if not rows:
        raise MalformedFileError(name, "Kubios RR table has no rows", line=data_from + 1)
    table = numeric_table(name, rows, numbers)
    return RRRecording(
        rr_ms=table[:, 1] * MS_PER_S,
        times_s=np.ascontiguousarray(table[:, 0]),
        unit_detected="s",
        format="kubios",
        path=name,
        start_time=start,
        lines=line_array(numbers, table.shape[0]),
    )


def parse_polar(name: str, lines: Sequence[str], header_idx: int) -> RRRecording:
    """Polar Sensor Logger RR: ``<ISO phone time>;<RR ms>`` per row after the header."""
    stamps: list[datetime] = []
    rr_tokens: list[list[str]] = []
    numbers: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        cells = line.rstrip(";").split(";")
        if len(cells) != 2:
            raise MalformedFileError(
                name,
                f"expected 2 fields 'Phone timestamp;RR-interval [ms]', found {len(cells)}",
                line=i + 1,
            )
        stamp = parse_datetime(cells[0])
        if stamp is None:
            raise MalformedFileError(
                name, f"expected an ISO 8601 phone timestamp, found {cells[0]!r}", line=i + 1
            )
        stamps.append(stamp)
        rr_tokens.append([cells[1].strip()])
        numbers.append(i + 1)
    if not rr_tokens:
        raise MalformedFileError(name, "Polar Sensor Logger file has a header but no RR rows")
    rr = numeric_table(name, rr_tokens, numbers)[:, 0]
    t0 = stamps[0]
    host = np.array([(s - t0).total_seconds() for s in stamps], dtype=np.float64)
    return RRRecording(
        rr_ms=rr,
        times_s=None,
        unit_detected="ms",
        format="polar-sensor-logger",
        path=name,
        start_time=t0,
        host_times_s=host,
        lines=line_array(numbers, rr.shape[0]),
    )


def parse_hrv_logger(name: str, lines: Sequence[str], header_idx: int) -> RRRecording:
    """HRV Logger RR: ``date,rr,since start`` (rr and since start in ms)."""
    first_date: str | None = None
    rows: list[list[str]] = []
    numbers: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        cells = line.split(",")
        if len(cells) != 3:
            raise MalformedFileError(
                name, f"expected 3 fields 'date,rr,since start', found {len(cells)}", line=i + 1
            )
        if first_date is None:
            first_date = cells[0]
        rows.append([cells[1].strip(), cells[2].strip()])
        numbers.append(i + 1)
    if not rows:
        raise MalformedFileError(name, "HRV Logger file has a header but no RR rows")
    table = numeric_table(name, rows, numbers)
    rr = np.ascontiguousarray(table[:, 0])
    times = (table[:, 1] + rr) / MS_PER_S
    start = parse_datetime(first_date) if first_date is not None else None
    return RRRecording(
        rr_ms=rr,
        times_s=times,
        unit_detected="ms",
        format="hrv-logger",
        path=name,
        start_time=start,
        lines=line_array(numbers, rr.shape[0]),
    )
