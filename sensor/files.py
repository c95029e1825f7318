"""Files of beats: one reader that recognises the common RR formats, and Sintonia's own beats CSV.

Formats recognised by :func:`read_rr_file` (auto-detected from the content, and for Elite HRV from
the file name):

``"plain"``
    One RR interval per line, or two columns ``time, RR`` separated by whitespace, comma,
    semicolon or tab, with or without a header line. Blank lines and ``#`` comments are ignored.
    RR in milliseconds or seconds (detected: a median below :data:`SECONDS_MEDIAN_THRESHOLD`
    means seconds). This is also the Kubios "Type 1" RR input format.
``"kubios"``
    The Kubios HRV text report (``File type: asciiRR`` ...), whose table "RR INTERVAL DATA and
    SPECTRUM ESTIMATES" holds ``Time (s)`` and ``RR interval (s)`` columns (Kubios HRV User's
    Guide, section "Saving results: ASCII text file").
``"polar-sensor-logger"``
    Polar Sensor Logger's RR export: header ``Phone timestamp;RR-interval [ms]``, one row per
    RR with the phone's ISO 8601 receipt time (arrival times, not beat times: the phone receives
    RRs in batches).
``"hrv-logger"``
    HRV Logger (M. Altini) RR export: header ``date,rr,since start``, RR in ms, ``since start``
    the cumulative time (ms) at the start of each interval.
``"elite-hrv"``
    Elite HRV export: one RR (ms) per line; the start time is only in the file name,
    ``YYYY-MM-DD HH-MM-SS.txt`` (local time).
``"sintonia-beats"``
    Sintonia's lossless beats CSV (see :class:`BeatFileWriter`): a first line
    ``# sintonia-beats v1``, the header
    ``participant,device,seq,beat_time_s,rr_ms,rr_raw,host_time_s,contact`` and one row per
    beat, possibly of several participants.

The reader only parses: RR values are not checked for plausibility here (that is
:func:`hrv.validate.validate_rr`'s job at the pipeline's entry); anything that is not a number
where a number is expected raises :class:`~sensor.errors.MalformedFileError` with the file and the
1-based line number.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, TextIO

import numpy as np
from numpy.typing import NDArray

from hrv.errors import ParameterError
from sensor.errors import MalformedFileError, SourceStateError
from sensor.types import BeatBatch

__all__ = [
    "BEATS_FILE_HEADER",
    "BEATS_FILE_MAGIC",
    "FORMATS_READ",
    "SECONDS_MEDIAN_THRESHOLD",
    "BeatFileWriter",
    "RRFormat",
    "RRRecording",
    "locate_rr_value",
    "read_beats_file",
    "read_rr_file",
]

logger = logging.getLogger(__name__)

RRFormat = Literal[
    "plain", "kubios", "polar-sensor-logger", "hrv-logger", "elite-hrv", "sintonia-beats"
]

#: A median RR below this value (in the file's own unit) means the file is in seconds, not ms.
#: No human RR is below 10 ms or above 10 s, so the two units cannot be confused.
SECONDS_MEDIAN_THRESHOLD: Final[float] = 10.0

#: First line of a Sintonia beats CSV (format name and version).
BEATS_FILE_MAGIC: Final[str] = "# sintonia-beats v1"
#: Column header of a Sintonia beats CSV.
BEATS_FILE_HEADER: Final[tuple[str, ...]] = (
    "participant",
    "device",
    "seq",
    "beat_time_s",
    "rr_ms",
    "rr_raw",
    "host_time_s",
    "contact",
)

_SEPARATORS_TO_SPACE: Final[dict[int, int]] = str.maketrans(",;\t", "   ")
_SPLIT: Final[re.Pattern[str]] = re.compile(r"[,;\t ]+")
_ELITE_NAME: Final[re.Pattern[str]] = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[ _](\d{2})-(\d{2})-(\d{2})\.txt$", re.IGNORECASE
)
_HEADER_START: Final[re.Pattern[str]] = re.compile(r"^[\"']?[A-Za-z_]")
_POLAR_HEADER: Final[str] = "phone timestamp;rr-interval [ms]"
_HRV_LOGGER_COLUMNS: Final[tuple[str, ...]] = ("date", "rr", "since start")
_MS_PER_S: Final[float] = 1000.0
#: The time column of a two-column file is taken as ms when its span exceeds the RR sum in seconds
#: by more than this factor (10**1.5: geometric midpoint between 1 and 1000).
_TIME_MS_RATIO: Final[float] = 10.0**1.5


@dataclass(frozen=True, eq=False)
class RRRecording:
    """RR intervals read from a file, in Sintonia's internal units, with what the file said.

    Attributes
    ----------
    rr_ms : numpy.ndarray
        RR intervals, float64 milliseconds, in file order, not validated.
    times_s : numpy.ndarray or None
        Time of each beat (the end of each RR interval), float64 seconds, as given or derived by the
        file (for Kubios and two-column files the file's time column; for HRV Logger
        ``since start + rr``; for Sintonia beats the reconstructed ``beat_time_s``); None when the
        file has only RR values.
    unit_detected : {"ms", "s"}
        The unit the RR values were written in (converted to ms in ``rr_ms``).
    format : str
        One of :data:`RRFormat`.
    path : str
        The file read.
    start_time : datetime or None
        Wall-clock start of the recording when the file says it (naive = local time of the
        recording device).
    participant, device : str or None
        For Sintonia beats files, whose beats these are.
    rr_raw : numpy.ndarray or None
        int64 raw RR values as received (1/1024 s for BLE; -1 where the source had none).
    host_times_s : numpy.ndarray or None
        float64 host receipt time of each RR (Sintonia beats, Polar Sensor Logger: seconds on the
        file's own clock).
    seq : numpy.ndarray or None
        int64 per-device sequence number of each beat (Sintonia beats).
    contact : numpy.ndarray or None
        int8 sensor contact per beat: 1 contact, 0 no contact, -1 not reported (Sintonia beats).
    lines : numpy.ndarray or None
        int64 1-based line of the file each RR value was read from (for notes about a value).
    """

    rr_ms: NDArray[np.float64]
    times_s: NDArray[np.float64] | None
    unit_detected: Literal["ms", "s"]
    format: str
    path: str
    start_time: datetime | None = None
    participant: str | None = None
    device: str | None = None
    rr_raw: NDArray[np.int64] | None = None
    host_times_s: NDArray[np.float64] | None = None
    seq: NDArray[np.int64] | None = None
    contact: NDArray[np.int8] | None = None
    lines: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.rr_ms.shape[0])

    @property
    def n_beats(self) -> int:
        """Number of RR intervals."""
        return len(self)

    @property
    def duration_s(self) -> float:
        """Sum of the RR intervals, seconds."""
        return float(self.rr_ms.sum()) / _MS_PER_S


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_rr_file(path: str | os.PathLike[str], *, participant: str | None = None) -> RRRecording:
    """Read RR intervals from a file, recognising its format.

    Parameters
    ----------
    path : str or path-like
        The file. Formats: see the module docstring.
    participant : str, optional
        For a Sintonia beats file holding several participants, whose beats to return. Required
        when the file holds more than one participant; ignored by the other formats.

    Returns
    -------
    RRRecording
        RR in ms (float64), beat times if the file has them, the detected unit and format.

    Raises
    ------
    MalformedFileError
        If the file is empty, has no RR values, or holds something other than a number where a
        number is expected (the message names the file and the 1-based line), or if a
        multi-participant beats file is read without ``participant``.
    OSError
        If the file cannot be opened.

    Notes
    -----
    Unit detection for unit-less formats: with :math:`m` the median of the values,
    seconds if :math:`m < 10`, else milliseconds; ``rr_ms = 1000 * rr`` for seconds.

    References
    ----------
    Tarvainen MP, Niskanen JP, Lipponen JA, Ranta-aho PO, Karjalainen PA. Kubios HRV --
    heart rate variability analysis software. Comput Methods Programs Biomed 2014;113(1):210-20
    (RR text formats). Polar Sensor Logger (Polar Electro, Android) and HRV Logger
    (M. Altini) export formats as documented by their apps.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rr.txt"
    >>> _ = p.write_text("# rest\\n0.800\\n0.810\\n\\n0.790\\n")
    >>> rec = read_rr_file(p)
    >>> rec.rr_ms.tolist(), rec.unit_detected, rec.format
    ([800.0, 810.0, 790.0], 's', 'plain')
    """
    p = Path(path)
    text = _read_text(p)
    lines = text.splitlines()
    name = str(p)
    first = _first_content_line(lines)
    if first is None:
        raise MalformedFileError(name, "empty file: expected RR intervals, found no data")
    first_idx, first_line = first
    stripped = first_line.strip()
    if stripped.lower().startswith(BEATS_FILE_MAGIC.split(" v")[0]):
        recordings = _parse_beats(name, lines)
        return _choose_participant(name, recordings, participant)
    if _looks_like_kubios(lines):
        return _parse_kubios(name, lines)
    if stripped.lower().replace(" ", "").rstrip(";") == _POLAR_HEADER.replace(" ", ""):
        return _parse_polar(name, lines, first_idx)
    if tuple(c.strip().lower() for c in stripped.split(",")) == _HRV_LOGGER_COLUMNS:
        return _parse_hrv_logger(name, lines, first_idx)
    rec = _parse_plain(name, lines, text)
    match = _ELITE_NAME.search(p.name)
    if match is not None and rec.times_s is None:
        y, mo, d, h, mi, s = (int(g) for g in match.groups())
        try:
            start = datetime(y, mo, d, h, mi, s)
        except ValueError:
            start = None
        if start is not None:
            return RRRecording(
                rr_ms=rec.rr_ms,
                times_s=None,
                unit_detected=rec.unit_detected,
                format="elite-hrv",
                path=name,
                start_time=start,
                lines=rec.lines,
            )
    return rec


def read_beats_file(path: str | os.PathLike[str]) -> dict[str, RRRecording]:
    """Read every participant of a Sintonia beats CSV.

    Parameters
    ----------
    path : str or path-like
        A file written by :class:`BeatFileWriter`.

    Returns
    -------
    dict of str to RRRecording
        One recording per participant, in order of first appearance, each holding all that
        participant's beats in file order (and the raw values, seq, host times, contact).

    Raises
    ------
    MalformedFileError
        If the file is not a Sintonia beats file or a row is malformed (file and line named).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "beats.csv"
    >>> _ = p.write_text("# sintonia-beats v1\\n"
    ...     "participant,device,seq,beat_time_s,rr_ms,rr_raw,host_time_s,contact\\n"
    ...     "patient,sim,0,0.8,800.0,819,1.0,1\\n")
    >>> read_beats_file(p)["patient"].rr_ms.tolist()
    [800.0]
    """
    p = Path(path)
    name = str(p)
    lines = _read_text(p).splitlines()
    first = _first_content_line(lines)
    if first is None or not first[1].strip().lower().startswith(BEATS_FILE_MAGIC.split(" v")[0]):
        raise MalformedFileError(
            name, f"not a Sintonia beats file: expected a first line {BEATS_FILE_MAGIC!r}", line=1
        )
    return _parse_beats(name, lines)


#: What the reader reads, for messages about files it cannot read.
FORMATS_READ: Final[str] = (
    "plain RR text (one RR per line, or time and RR), Kubios RR/report, Polar Sensor Logger, "
    "HRV Logger, Elite HRV, or a Sintonia beats CSV, saved as UTF-8, Latin-1 or UTF-16 text"
)
#: Bytes looked at to tell text from binary data.
_SNIFF_BYTES: Final[int] = 65536
#: Share of control characters (other than tab, CR, LF, FF) above which data is not text.
_MAX_CONTROL_SHARE: Final[float] = 0.05
_CONTROL_BYTES: Final[bytes] = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"


def _read_text(p: Path) -> str:
    try:
        data = p.read_bytes()
    except IsADirectoryError as exc:
        raise MalformedFileError(str(p), "is a directory, expected a file of RR intervals") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 with a byte-order mark (Windows Notepad's "Unicode")
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head or (
        head
        and len(head) - len(head.translate(None, _CONTROL_BYTES)) > _MAX_CONTROL_SHARE * len(head)
    ):
        raise MalformedFileError(
            str(p),
            f"not a text RR file (binary data, or UTF-16 without a byte-order mark); the formats "
            f"read are {FORMATS_READ}",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Kubios and phone exports on Windows may be Latin-1; every byte decodes.
        return data.decode("latin-1")


def _first_content_line(lines: Sequence[str]) -> tuple[int, str] | None:
    """Index and text of the first non-blank line (comments count: the magic line is one)."""
    for i, line in enumerate(lines):
        if line.strip():
            return i, line
    return None


def _is_header(tokens: Sequence[str]) -> bool:
    """A header line: no number in it, and it starts with a word (``RR``, ``time``, ``"rr"``).

    A mistyped first value such as ``8l0`` is therefore an error, not a header.
    """
    return all(_to_float(t) is None for t in tokens) and _HEADER_START.match(tokens[0]) is not None


def _to_float(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _detect_unit(
    name: str, values: NDArray[np.float64]
) -> tuple[NDArray[np.float64], Literal["ms", "s"]]:
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if finite.size else math.nan
    if median < SECONDS_MEDIAN_THRESHOLD:
        logger.debug(
            "%s: median RR %.4g < %g, reading RR in seconds", name, median, SECONDS_MEDIAN_THRESHOLD
        )
        return values * _MS_PER_S, "s"
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


def _parse_plain(name: str, lines: Sequence[str], text: str = "") -> RRRecording:
    """One or two numeric columns, optional header, blank lines and # comments ignored."""
    first = _first_content_line(lines)
    if text and first is not None:
        tokens = [t for t in _SPLIT.split(first[1].strip()) if t]
        has_header = _is_header(tokens)
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
        tokens = [t for t in _SPLIT.split(content) if t]
        if not rows and header is None and _is_header(tokens):
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
    return _plain_recording(name, _numeric_table(name, rows, line_numbers), header, line_numbers)


def _line_array(numbers: Sequence[int], n: int) -> NDArray[np.int64] | None:
    return np.asarray(numbers, dtype=np.int64) if len(numbers) == n else None


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
            lines=_line_array(numbers, table.shape[0]),
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
        rr_span_s = float(rr_ms[1:].sum()) / _MS_PER_S
        if rr_span_s > 0 and span_s / rr_span_s > _TIME_MS_RATIO:
            times = times / _MS_PER_S
    return RRRecording(
        rr_ms=rr_ms,
        times_s=times,
        unit_detected=unit,
        format="plain",
        path=name,
        lines=_line_array(numbers, table.shape[0]),
    )


def _numeric_table(
    name: str, rows: Sequence[Sequence[str]], line_numbers: Sequence[int]
) -> NDArray[np.float64]:
    """Convert equal-length token rows to float64 in one call; name the first bad line if any."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    except ValueError:
        pass
    for tokens, line_no in zip(rows, line_numbers, strict=True):
        for token in tokens:
            if _to_float(token) is None:
                raise MalformedFileError(
                    name, f"expected a number, found {token!r}", line=line_no
                ) from None
    raise MalformedFileError(name, "could not read the numbers")  # pragma: no cover


def _looks_like_kubios(lines: Sequence[str]) -> bool:
    head = "\n".join(lines[:12]).lower()
    return "kubios" in head and any("rr interval data" in ln.lower() for ln in lines)


def _parse_kubios(name: str, lines: Sequence[str]) -> RRRecording:
    """The RR table of a Kubios HRV text report: ``Time (s)`` and ``RR interval (s)`` columns."""
    start: datetime | None = None
    table_at: int | None = None
    for i, line in enumerate(lines):
        low = line.lower()
        if low.startswith("measurement date:"):
            start = _parse_datetime(line.split(":", 1)[1].strip())
        if "rr interval data" in low:
            table_at = i
            break
    if table_at is None:  # pragma: no cover - guarded by _looks_like_kubios
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
    table = _numeric_table(name, rows, numbers)
    return RRRecording(
        rr_ms=table[:, 1] * _MS_PER_S,
        times_s=np.ascontiguousarray(table[:, 0]),
        unit_detected="s",
        format="kubios",
        path=name,
        start_time=start,
        lines=_line_array(numbers, table.shape[0]),
    )


def _parse_datetime(text: str) -> datetime | None:
    """ISO 8601 and the common app layouts; None for placeholders such as ``xx/xx/xx``."""
    t = text.strip()
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        pass
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(t, fmt)
        except ValueError:
            continue
    return None


def _parse_polar(name: str, lines: Sequence[str], header_idx: int) -> RRRecording:
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
        stamp = _parse_datetime(cells[0])
        if stamp is None:
            raise MalformedFileError(
                name, f"expected an ISO 8601 phone timestamp, found {cells[0]!r}", line=i + 1
            )
        stamps.append(stamp)
        rr_tokens.append([cells[1].strip()])
        numbers.append(i + 1)
    if not rr_tokens:
        raise MalformedFileError(name, "Polar Sensor Logger file has a header but no RR rows")
    rr = _numeric_table(name, rr_tokens, numbers)[:, 0]
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
        lines=_line_array(numbers, rr.shape[0]),
    )


def _parse_hrv_logger(name: str, lines: Sequence[str], header_idx: int) -> RRRecording:
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
    table = _numeric_table(name, rows, numbers)
    rr = np.ascontiguousarray(table[:, 0])
    times = (table[:, 1] + rr) / _MS_PER_S
    start = _parse_datetime(first_date) if first_date is not None else None
    return RRRecording(
        rr_ms=rr,
        times_s=times,
        unit_detected="ms",
        format="hrv-logger",
        path=name,
        start_time=start,
        lines=_line_array(numbers, rr.shape[0]),
    )


def _parse_beats(name: str, lines: Sequence[str]) -> dict[str, RRRecording]:
    """Sintonia beats CSV -> one recording per participant."""
    header_idx: int | None = None
    for i, line in enumerate(lines):
        if i == 0 or not line.strip() or line.lstrip().startswith("#"):
            continue
        header_idx = i
        break
    magic = lines[0].strip() if lines else ""
    if magic != BEATS_FILE_MAGIC:
        raise MalformedFileError(
            name,
            f"expected {BEATS_FILE_MAGIC!r} (the version this reader knows), found {magic!r}",
            line=1,
        )
    if header_idx is None:
        raise MalformedFileError(name, "beats file without a header line", line=2)
    header = tuple(c.strip() for c in lines[header_idx].split(","))
    if header != BEATS_FILE_HEADER:
        raise MalformedFileError(
            name,
            f"expected the header {','.join(BEATS_FILE_HEADER)!r}, found "
            f"{lines[header_idx].strip()!r}",
            line=header_idx + 1,
        )
    parts: list[str] = []
    devices: list[str] = []
    numeric: list[list[str]] = []
    raw_tokens: list[str] = []
    contact_tokens: list[str] = []
    numbers: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split(",")
        if len(cells) != len(BEATS_FILE_HEADER):
            raise MalformedFileError(
                name, f"expected {len(BEATS_FILE_HEADER)} fields, found {len(cells)}", line=i + 1
            )
        parts.append(cells[0])
        devices.append(cells[1])
        numeric.append([cells[2], cells[3], cells[4], cells[6]])
        raw_tokens.append(cells[5].strip())
        contact_tokens.append(cells[7].strip())
        numbers.append(i + 1)
    if not numeric:
        raise MalformedFileError(name, "beats file has a header but no beats")
    table = _numeric_table(name, numeric, numbers)
    raw_str = np.array(raw_tokens, dtype=str)
    raw_ok = (raw_str == "") | np.char.isdigit(raw_str)
    if not raw_ok.all():
        k = int(np.flatnonzero(~raw_ok)[0])
        raise MalformedFileError(
            name,
            f"expected a non-negative integer rr_raw or nothing, found {raw_tokens[k]!r}",
            line=numbers[k],
        )
    raw = np.where(raw_str == "", "-1", raw_str).astype(np.int64)
    contact_str = np.array(contact_tokens, dtype=str)
    contact_ok = np.isin(contact_str, ["", "0", "1"])
    if not contact_ok.all():
        k = int(np.flatnonzero(~contact_ok)[0])
        raise MalformedFileError(
            name,
            f"expected contact 1, 0 or nothing, found {contact_tokens[k]!r}",
            line=numbers[k],
        )
    contact = np.where(contact_str == "", "-1", contact_str).astype(np.int8)
    seq_f = table[:, 0]
    if not np.array_equal(seq_f, np.floor(seq_f)):
        bad = int(np.flatnonzero(seq_f != np.floor(seq_f))[0])
        raise MalformedFileError(
            name, f"expected an integer seq, found {seq_f[bad]!r}", line=numbers[bad]
        )
    participants = np.array(parts, dtype=object)
    out: dict[str, RRRecording] = {}
    for who in dict.fromkeys(parts):
        sel = np.flatnonzero(participants == who)
        device_values = dict.fromkeys(devices[j] for j in sel)
        out[who] = RRRecording(
            rr_ms=np.ascontiguousarray(table[sel, 2]),
            times_s=np.ascontiguousarray(table[sel, 1]),
            unit_detected="ms",
            format="sintonia-beats",
            path=name,
            participant=who,
            device=";".join(device_values),
            rr_raw=raw[sel],
            host_times_s=np.ascontiguousarray(table[sel, 3]),
            seq=table[sel, 0].astype(np.int64),
            contact=contact[sel],
            lines=np.asarray(numbers, dtype=np.int64)[sel],
        )
    return out


def _choose_participant(
    name: str, recordings: dict[str, RRRecording], participant: str | None
) -> RRRecording:
    if participant is not None:
        if participant not in recordings:
            raise MalformedFileError(
                name,
                f"no beats of participant {participant!r}; the file holds {sorted(recordings)}",
            )
        return recordings[participant]
    if len(recordings) > 1:
        raise MalformedFileError(
            name,
            f"holds beats of {len(recordings)} participants {list(recordings)}; choose one "
            "(participant=...)",
        )
    return next(iter(recordings.values()))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class BeatFileWriter:
    """Append beats to a Sintonia beats CSV, flushing after every batch so nothing is lost.

    Each beat is one row ``participant,device,seq,beat_time_s,rr_ms,rr_raw,host_time_s,contact``;
    floats are written with :func:`repr` (shortest round-tripping form), so reading the file back
    gives the same float64 values bit for bit. ``rr_raw`` and ``contact`` are empty when the
    source had none. Batches of several participants may be interleaved.

    Parameters
    ----------
    path : str or path-like
        The file; created (with the magic line and header) or, if it already is a beats file,
        appended to.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from sensor.types import BeatBatch
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "beats.csv"
    >>> with BeatFileWriter(p) as w:
    ...     w.append(BeatBatch("patient", "sim", np.array([800.0]), (819,), 1.0, np.array([0.8])))
    >>> read_rr_file(p).rr_ms.tolist()
    [800.0]
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            with open(self.path, encoding="utf-8") as fh:
                first = fh.readline().strip()
            if first != BEATS_FILE_MAGIC:
                raise MalformedFileError(
                    self.path,
                    f"refusing to append: expected a Sintonia beats file starting with "
                    f"{BEATS_FILE_MAGIC!r}, found {first!r}",
                    line=1,
                )
        self._fh: TextIO | None = open(self.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
        if not exists:
            self._fh.write(BEATS_FILE_MAGIC + "\n" + ",".join(BEATS_FILE_HEADER) + "\n")
            self._fh.flush()
        self.n_beats = 0

    def append(self, batch: BeatBatch) -> None:
        """Write every beat of ``batch`` and flush it to the operating system."""
        if self._fh is None:
            raise SourceStateError(f"BeatFileWriter({self.path!r}) is closed")
        n = len(batch)
        if n == 0:
            return
        for field_name, value in (("participant", batch.participant), ("device", batch.device)):
            if any(c in value for c in ",\n\r"):
                raise ParameterError(f"{field_name} must not contain commas or newlines: {value!r}")
        if batch.beat_times_s.shape[0] != n:
            raise ParameterError(
                f"batch has {n} RR values but {batch.beat_times_s.shape[0]} beat times"
            )
        if batch.rr_raw is not None and len(batch.rr_raw) != n:
            raise ParameterError(f"batch has {n} RR values but {len(batch.rr_raw)} raw values")
        raw: Sequence[object] = batch.rr_raw if batch.rr_raw is not None else ("",) * n
        contact = "" if batch.contact is None else str(int(batch.contact))
        prefix = f"{batch.participant},{batch.device},"
        suffix = f",{batch.host_time_s!r},{contact}\n"
        buf = io.StringIO()
        for k, (t, rr, r) in enumerate(
            zip(batch.beat_times_s.tolist(), batch.rr_ms.tolist(), raw, strict=True)
        ):
            buf.write(f"{prefix}{batch.seq + k},{t!r},{rr!r},{r}{suffix}")
        self._fh.write(buf.getvalue())
        self._fh.flush()
        self.n_beats += n

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> BeatFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def locate_rr_value(path: str | os.PathLike[str], index: int) -> int | None:
    """The 1-based line of the ``index``-th RR value of a file, for error messages.

    Parameters
    ----------
    path : str or path-like
        A file :func:`read_rr_file` read.
    index : int
        0-based index into its ``rr_ms``.

    Returns
    -------
    int or None
        The line, for files with one RR per data row (plain, Elite HRV, Polar Sensor Logger,
        HRV Logger); None for the others (Kubios reports, Sintonia beats files) or when the file
        cannot be read again.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rr.txt"
    >>> _ = p.write_text("RR\\n# rest\\n800\\n\\n-750\\n")
    >>> locate_rr_value(p, 1)
    5
    """
    try:
        rec_format = read_rr_file(path).format
        lines = _read_text(Path(path)).splitlines()
    except (OSError, MalformedFileError):
        return None
    if rec_format not in ("plain", "elite-hrv", "polar-sensor-logger", "hrv-logger"):
        return None
    k = -1
    seen_data = False
    for i, raw in enumerate(lines):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        tokens = [t for t in _SPLIT.split(content) if t]
        if not seen_data and _is_header(tokens):
            continue
        seen_data = True
        k += 1
        if k == index:
            return i + 1
    return None
