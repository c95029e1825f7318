"""Sintonia's own lossless beats CSV: its reader and :class:`BeatFileWriter`."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, TextIO

import numpy as np

from hrv.errors import ParameterError
from sensor.errors import MalformedFileError, SourceStateError
from sensor.files._common import (
    first_content_line,
    numeric_table,
    read_text,
)
from sensor.files.recording import RRRecording
from sensor.types import BeatBatch

__all__ = [
    "BEATS_FILE_HEADER",
    "BEATS_FILE_MAGIC",
    "BeatFileWriter",
    "choose_participant",
    "parse_beats",
    "read_beats_file",
]

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
    lines = read_text(p).splitlines()
    first = first_content_line(lines)
    if first is None or not first[1].strip().lower().startswith(BEATS_FILE_MAGIC.split(" v")[0]):
        raise MalformedFileError(
            name, f"not a Sintonia beats file: expected a first line {BEATS_FILE_MAGIC!r}", line=1
        )
    return parse_beats(name, lines)


def parse_beats(name: str, lines: Sequence[str]) -> dict[str, RRRecording]:
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
    table = numeric_table(name, numeric, numbers)
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


def choose_participant(
    name: str, recordings: dict[str, RRRecording], participant: str | None
) -> RRRecording:
    """The recording of ``participant``, or the only one; raises if that is ambiguous."""
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
    >>> from sensor.files import read_rr_file
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
