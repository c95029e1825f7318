"""What the readers of every format share: decoding the text, tokens, numbers, line numbers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from sensor.errors import MalformedFileError

__all__ = [
    "FORMATS_READ",
    "MS_PER_S",
    "SPLIT",
    "first_content_line",
    "is_header",
    "line_array",
    "numeric_table",
    "parse_datetime",
    "read_text",
    "to_float",
]

SPLIT: Final[re.Pattern[str]] = re.compile(r"[,;\t ]+")
_HEADER_START: Final[re.Pattern[str]] = re.compile(r"^[\"']?[A-Za-z_]")
#: Milliseconds per second.
MS_PER_S: Final[float] = 1000.0

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


def read_text(p: Path) -> str:
    """The file's text: UTF-16 with a byte-order mark, else UTF-8 (BOM dropped), else Latin-1.

    Raises :class:`~sensor.errors.MalformedFileError` for a directory or binary data.
    """
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


def first_content_line(lines: Sequence[str]) -> tuple[int, str] | None:
    """Index and text of the first non-blank line (comments count: the magic line is one)."""
    for i, line in enumerate(lines):
        if line.strip():
            return i, line
    return None


def is_header(tokens: Sequence[str]) -> bool:
    """A header line: no number in it, and it starts with a word (``RR``, ``time``, ``"rr"``).

    A mistyped first value such as ``8l0`` is therefore an error, not a header.
    """
    return all(to_float(t) is None for t in tokens) and _HEADER_START.match(tokens[0]) is not None


def to_float(token: str) -> float | None:
    """The number a token writes, or None."""
    try:
        return float(token)
    except ValueError:
        return None


def line_array(numbers: Sequence[int], n: int) -> NDArray[np.int64] | None:
    """The line numbers as int64 when there is one per value (``n``), else None."""
    return np.asarray(numbers, dtype=np.int64) if len(numbers) == n else None


def numeric_table(
    name: str, rows: Sequence[Sequence[str]], line_numbers: Sequence[int]
) -> NDArray[np.float64]:
    """Convert equal-length token rows to float64 in one call; name the first bad line if any."""
    try:
        return np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    except ValueError:
        pass
    for tokens, line_no in zip(rows, line_numbers, strict=True):
        for token in tokens:
            if to_float(token) is None:
                raise MalformedFileError(
                    name, f"expected a number, found {token!r}", line=line_no
                ) from None
    raise MalformedFileError(name, "could not read the numbers")  # pragma: no cover


def parse_datetime(text: str) -> datetime | None:
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
