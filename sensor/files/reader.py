"""One reader for every format: :func:`read_rr_file` recognises the format from the content
(and, for Elite HRV, the file name); :func:`locate_rr_value` finds a value's line again.
"""

from __future__ import annotations

import os
from pathlib import Path

from sensor.errors import MalformedFileError
from sensor.files._common import (
    SPLIT,
    first_content_line,
    is_header,
    read_text,
)
from sensor.files.apps import (
    HRV_LOGGER_COLUMNS,
    POLAR_HEADER,
    looks_like_kubios,
    parse_hrv_logger,
    parse_kubios,
    parse_polar,
)
from sensor.files.beats import BEATS_FILE_MAGIC, choose_participant, parse_beats
from sensor.files.plain import elite_hrv_start, parse_plain
from sensor.files.recording import RRRecording

__all__ = ["locate_rr_value", "read_rr_file"]


def read_rr_file(path: str | os.PathLike[str], *, participant: str | None = None) -> RRRecording:
    """Read RR intervals from a file, recognising its format.

    Parameters
    ----------
    path : str or path-like
        The file. Formats: see :mod:`sensor.files`.
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
    text = read_text(p)
    lines = text.splitlines()
    name = str(p)
    first = first_content_line(lines)
    if first is None:
        raise MalformedFileError(name, "empty file: expected RR intervals, found no data")
    first_idx, first_line = first
    stripped = first_line.strip()
    if stripped.lower().startswith(BEATS_FILE_MAGIC.split(" v")[0]):
        recordings = parse_beats(name, lines)
        return choose_participant(name, recordings, participant)
    if looks_like_kubios(lines):
        return parse_kubios(name, lines)
    if stripped.lower().replace(" ", "").rstrip(";") == POLAR_HEADER.replace(" ", ""):
        return parse_polar(name, lines, first_idx)
    if tuple(c.strip().lower() for c in stripped.split(",")) == HRV_LOGGER_COLUMNS:
        return parse_hrv_logger(name, lines, first_idx)
    rec = parse_plain(name, lines, text)
    start = elite_hrv_start(p.name) if rec.times_s is None else None
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
        lines = read_text(Path(path)).splitlines()
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
        tokens = [t for t in SPLIT.split(content) if t]
        if not seen_data and is_header(tokens):
            continue
        seen_data = True
        k += 1
        if k == index:
            return i + 1
    return None
