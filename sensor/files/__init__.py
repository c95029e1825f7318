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

One module per format family: :mod:`~sensor.files.plain` (plain RR text, Elite HRV),
:mod:`~sensor.files.apps` (Kubios, Polar Sensor Logger, HRV Logger), :mod:`~sensor.files.beats`
(the Sintonia beats CSV, read and written); :mod:`~sensor.files.reader` recognises the format;
:mod:`~sensor.files.recording` holds what a reader returns. The names below are the public ones.
"""

from __future__ import annotations

from sensor.files._common import FORMATS_READ
from sensor.files.beats import BEATS_FILE_HEADER, BEATS_FILE_MAGIC, BeatFileWriter, read_beats_file
from sensor.files.reader import locate_rr_value, read_rr_file
from sensor.files.recording import SECONDS_MEDIAN_THRESHOLD, RRFormat, RRRecording

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
