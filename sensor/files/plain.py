"""Plain RR text (one RR per line, or time and RR columns; Kubios "Type 1") and Elite HRV,
a plain file whose name carries the start time.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from sensor.errors import MalformedFileError
from sensor.files._common import (
    MS_PER_S,
    SPLIT,
    first_content_line,
    is_header,
    line_array,
    numeric_table,
)
from sensor.files.recording import SECONDS_MEDIAN_THRESHOLD, RRRecording

__all__ = ["elite_hrv_start", "parse_plain"]

logger = logging.getLogger(__name__)

_SEPARATORS_TO_SPACE: Final[dict[int, int]] = str.maketrans(",;\t", "   ")
_ELITE_NAME: Final[re.Pattern[str]] = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ _](\d{2})-(\d{2})-(\d{2})\.txt$", re.IGNORECASE
)
#: The time column of a two-column file is taken as ms when its span exceeds the RR sum in seconds
#: by more than this factor (10**1.5: geometric midpoint between 1 and 1000).
_TIME_MS_RATIO: Final[float] = 10.0**1.5


def _detect_unit(
    name: str, values: NDArray[np.float64]
) -> tuple[NDArray[np.float64], Literal["ms", "s"]]:
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else math.nan
    if median < SECONDS_MEDIAN_THRESHOLD:
        logger.debug(
            "%s: median RR %.4g < %g, reading RR in seconds", name, median, SECONDS_MEDIAN_THRESHOLD
        )
        return values * MS_PER_S, "s"
    return values, "ms"


def _fast_plain_table(text: str, skip_rows: int = 0) -> NDArray[np.float64] | None:
    """The numbers of a plain file without header or comments, parsed by numpy's C reader.

    None when the file has anything else (header, comments, a bad value, ragged lines): the
    line-by-line parser then reads it and names the offending line.
    """
    if "#" in text:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = np.loadtxt(
                io.StringIO(text.translate(_SEPARATORS_TO_SPACE)),
                dtype=np.float64,
                ndmin=2,
                skiprows=skip_rows,
            )
    except (ValueError, UserWarning):
        return None
    if table.shape[0] == 0 or table.shape[1] not in (1, 2):
        return None
    return np.ascontiguousarray(table)


def parse_plain(name: str, lines: Sequence[str], text: str = "") -> RRRecording:
    """One or two numeric columns, optional header, blank lines and # comments ignored."""
    first = first_content_line(lines)
    if text and first is not None:
        tokens = [t for t in SPLIT.split(first[1].strip()) if t]
        has_header = is_header(tokens)
        fast = _fast_plain_table(text, first[0] + 1 if has_header else 0)
        if fast is not None:
            head = [t.strip().lower() for t in re.split(r"[,;\t]", first[1].strip())]
            numbers = [i + 1 for i, ln in enumerate(lines) if ln.strip()][int(has_header) :]
            return _plain_recording(name, fast, head if has_header else None, numbers)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    header: list[str] | None = None
    for i, raw in enumerate(lines):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        tokens = [t for t in SPLIT.split(content) if t]
        if not rows and header is None and is_header(tokens):
            # A header is informational; it only decides the column order (time, RR) or (RR, time).
            header = [t.strip().lower() for t in re.split(r"[,;\t]", content)]
            continue
        if not rows and len(tokens) not in (1, 2):
            raise MalformedFileError(
                name,
                f"expected 1 value (RR) or 2 values (time, RR) per line, found {len(tokens)}: "
                f"{content!r}",
                line=i + 1,
            )
        if rows and len(tokens) != len(rows[0]):
            raise MalformedFileError(
                name,
                f"expected {len(rows[0])} value(s) per line like the first data line "
                f"(line {line_numbers[0]}), found {len(tokens)}: {content!r}",
                line=i + 1,
            )
        rows.append(tokens)
        line_numbers.append(i + 1)
    if not rows:
        raise MalformedFileError(
            name, "no RR values found (only blank lines, comments or a header)"
        )
    return _plain_recording(name, numeric_table(name, rows, line_numbers), header, line_numbers)


def _plain_recording(
    name: str,
    table: NDArray[np.float64],
    header: Sequence[str] | None,
    numbers: Sequence[int] = (),
) -> RRRecording:
    """RR (and times) from the numeric table of a plain file: units detected, columns ordered."""
    n_cols = table.shape[1]
    if n_cols == 1:
        rr_ms, unit = _detect_unit(name, table[:, 0])
        return RRRecording(
            rr_ms=rr_ms,
            times_s=None,
            unit_detected=unit,
            format="plain",
            path=name,
            lines=line_array(numbers, table.shape[0]),
        )
    time_col, rr_col = 0, 1
    if header is not None and len(header) == 2 and "rr" in header[0] and "rr" not in header[1]:
        time_col, rr_col = 1, 0
    rr_ms, unit = _detect_unit(name, table[:, rr_col])
    times = np.ascontiguousarray(table[:, time_col])
    back = np.flatnonzero(np.diff(times) < 0)
    if back.size:
        k = int(back[0])
        raise MalformedFileError(
            name,
            f"two columns read as (time, RR), but the time goes back at data row {k + 2} "
            f"({times[k]!r} -> {times[k + 1]!r}); decimal commas ('0,812') are not supported, "
            "write decimal points",
        )
    if times.size > 1:
        span_s = float(times[-1] - times[0])
        rr_span_s = float(rr_ms[1:].sum()) / MS_PER_S
        if rr_span_s > 0 and span_s / rr_span_s > _TIME_MS_RATIO:
            times = times / MS_PER_S
    return RRRecording(
        rr_ms=rr_ms,
        times_s=times,
        unit_detected=unit,
        format="plain",
        path=name,
        lines=line_array(numbers, table.shape[0]),
    )


def elite_hrv_start(file_name: str) -> datetime | None:
    """The start time in the name of an Elite HRV export, ``YYYY-MM-DD HH-MM-SS.txt``, or None.

    Parameters
    ----------
    file_name : str
        The file's name (its directory is not looked at).

    Returns
    -------
    datetime or None
        Naive local time of the recording; None when the name does not have that form or is not
        a valid date.

    Examples
    --------
    >>> elite_hrv_start("2024-03-05 14-30-00.txt")
    datetime.datetime(2024, 3, 5, 14, 30)
    >>> elite_hrv_start("rr.txt") is None
    True
    """
    match = _ELITE_NAME.search(file_name)
    if match is None:
        return None
    y, mo, d, h, mi, s = (int(g) for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
