"""Tests of sensor.files: the RR file reader (every format) and the Sintonia beats CSV."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.errors import MalformedFileError, SourceStateError
from sensor.files import (
    BEATS_FILE_MAGIC,
    BeatFileWriter,
    read_beats_file,
    read_rr_file,
)
from sensor.types import BeatBatch

RR = [812.0, 798.5, 805.0, 830.25, 790.0]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------------------- plain text


def test_plain_one_column_ms(tmp_path: Path) -> None:
    p = _write(tmp_path, "rr.txt", "\n".join(str(v) for v in RR) + "\n")
    rec = read_rr_file(p)
    assert rec.format == "plain"
    assert rec.unit_detected == "ms"
    assert rec.rr_ms.dtype == np.float64
    np.testing.assert_array_equal(rec.rr_ms, RR)
    assert rec.times_s is None
    assert rec.path == str(p)


def test_plain_one_column_seconds_detected(tmp_path: Path) -> None:
    p = _write(tmp_path, "rr.txt", "0.812\n0.7985\n1.2\n")
    rec = read_rr_file(p)
    assert rec.unit_detected == "s"
    np.testing.assert_allclose(rec.rr_ms, [812.0, 798.5, 1200.0], rtol=1e-12)


def test_plain_blank_lines_comments_and_crlf(tmp_path: Path) -> None:
    text = "# recorded at rest\r\n\r\n800\r\n  810  # a trailing comment\r\n\r\n# end\r\n790"
    p = _write(tmp_path, "rr.txt", text)
    np.testing.assert_array_equal(read_rr_file(p).rr_ms, [800.0, 810.0, 790.0])


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", " , "])
def test_plain_two_columns_every_separator(tmp_path: Path, sep: str) -> None:
    times = (np.cumsum(RR) / 1000.0).tolist()
    text = "\n".join(f"{t!r}{sep}{rr!r}" for t, rr in zip(times, RR, strict=True))
    rec = read_rr_file(_write(tmp_path, "rr.csv", text))
    np.testing.assert_array_equal(rec.rr_ms, RR)
    assert rec.times_s is not None
    np.testing.assert_array_equal(rec.times_s, times)


def test_plain_two_columns_with_header_and_time_in_ms(tmp_path: Path) -> None:
    times_ms = np.cumsum(RR)
    text = "time_ms,rr_ms\n" + "\n".join(f"{t},{rr}" for t, rr in zip(times_ms, RR, strict=True))
    rec = read_rr_file(_write(tmp_path, "rr.csv", text))
    assert rec.unit_detected == "ms"
    assert rec.times_s is not None
    # the time span (in ms) is ~1000x the RR sum in s, so it was converted to seconds
    np.testing.assert_allclose(rec.times_s, times_ms / 1000.0, rtol=1e-12)


def test_plain_header_naming_rr_first(tmp_path: Path) -> None:
    text = "RR;Time\n0.8;0.8\n0.9;1.7\n"
    rec = read_rr_file(_write(tmp_path, "rr.csv", text))
    np.testing.assert_allclose(rec.rr_ms, [800.0, 900.0])
    assert rec.times_s is not None
    np.testing.assert_allclose(rec.times_s, [0.8, 1.7])


def test_decimal_commas_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(MalformedFileError, match="decimal commas"):
        read_rr_file(_write(tmp_path, "rr.txt", "0,812\n0,798\n1,012\n0,905\n"))


def test_plain_one_column_with_header(tmp_path: Path) -> None:
    rec = read_rr_file(_write(tmp_path, "rr.txt", "RR (ms)\n800\n900\n"))
    np.testing.assert_array_equal(rec.rr_ms, [800.0, 900.0])


def test_reader_does_not_validate_rr(tmp_path: Path) -> None:
    # implausible and even non-positive values are parsed: hrv.validate_rr decides, not the reader
    rec = read_rr_file(_write(tmp_path, "rr.txt", "800\n4000\n150\n-5\n"))
    np.testing.assert_array_equal(rec.rr_ms, [800.0, 4000.0, 150.0, -5.0])


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("800\n810\nabc\n790\n", 3, "'abc'"),
        ("800\n\n# c\n810\n8l0\n", 5, "'8l0'"),
        ("0.8,800\n1.6,800\n2.4\n", 3, "found 1"),
        ("800\n1.6,800\n", 2, "found 2"),
        ("1 2 3\n", 1, "found 3"),
        ("time,rr\n0.8,800\n1.6,x\n", 3, "'x'"),
        ("8l0\n800\n", 1, "'8l0'"),  # a typo in the first value is not taken for a header
    ],
)
def test_plain_malformed_names_file_and_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    p = _write(tmp_path, "bad.txt", text)
    with pytest.raises(MalformedFileError) as info:
        read_rr_file(p)
    assert info.value.line == line
    assert info.value.path == str(p)
    assert f"{p}:{line}" in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "# only a comment\n", "RR\n"])
def test_empty_files_are_an_error(tmp_path: Path, text: str) -> None:
    p = _write(tmp_path, "empty.txt", text)
    with pytest.raises(MalformedFileError, match=r"empty|no RR values"):
        read_rr_file(p)


@settings(max_examples=40, deadline=None)
@given(
    rr=st.lists(st.floats(min_value=250.0, max_value=2500.0), min_size=1, max_size=50),
    seconds=st.booleans(),
)
def test_plain_roundtrip_property(
    tmp_path_factory: pytest.TempPathFactory, rr: list[float], seconds: bool
) -> None:
    # Whatever was written (ms or s), the reader returns the same RR in ms and the right unit.
    p = tmp_path_factory.mktemp("prop") / "rr.txt"
    values = [v / 1000.0 for v in rr] if seconds else rr
    p.write_text("\n".join(repr(v) for v in values))
    rec = read_rr_file(p)
    assert rec.unit_detected == ("s" if seconds else "ms")
    # dividing by 1000 then multiplying back is exact to a few ulp
    np.testing.assert_allclose(rec.rr_ms, rr, rtol=1e-14)


# ---------------------------------------------------------------------------- Kubios

_KUBIOS = """HRV ANALYSIS RESULTS - 20-Sep-2018 11:14:02
Kubios HRV Premium
3.1.0

File name: C:\\x\\series_1.txt
Measurement date: xx/xx/xx xx:xx:xx
File type: asciiRR

Time-Domain Results           ,
  Mean RR  (ms):              ,    768.4383,            ,

RR INTERVAL DATA and SPECTRUM ESTIMATES,
                              ,    SAMPLE 1,            ,            ,            ,
                              ,     RR Data,            ,FFT spectrum,            ,
                              ,        Time, RR interval,   Frequency,         PSD,
                              ,         (s),         (s),        (Hz),   (ms^2/Hz),
                              ,       0.664,       0.664,       0.000, 110106.6004,
                              ,       1.445,       0.781,       0.003, 108128.6420,
                              ,       2.273,       0.828,       0.007,  72902.4969,
                              ,       3.148,       0.875,            ,            ,

"""


def test_kubios_report(tmp_path: Path) -> None:
    rec = read_rr_file(_write(tmp_path, "series_1_hrv.txt", _KUBIOS))
    assert rec.format == "kubios"
    assert rec.unit_detected == "s"
    np.testing.assert_allclose(rec.rr_ms, [664.0, 781.0, 828.0, 875.0], rtol=1e-12)
    assert rec.times_s is not None
    np.testing.assert_allclose(rec.times_s, [0.664, 1.445, 2.273, 3.148])
    # Kubios's Time column is the cumulative RR sum (checked on the pyHRV exports)
    np.testing.assert_allclose(rec.times_s, np.cumsum(rec.rr_ms) / 1000.0, atol=1e-9)
    assert rec.start_time is None  # "xx/xx/xx" placeholder


def test_kubios_malformed_row(tmp_path: Path) -> None:
    bad = _KUBIOS.replace("1.445,       0.781", "1.445,       0.7a1")
    p = _write(tmp_path, "k.txt", bad)
    with pytest.raises(MalformedFileError) as info:
        read_rr_file(p)
    assert (
        info.value.line
        == _KUBIOS.splitlines().index(
            "                              ,       1.445,       0.781,       0.003, 108128.6420,"
        )
        + 1
    )


# ---------------------------------------------------------------------------- Polar, HRV Logger


def test_polar_sensor_logger(tmp_path: Path) -> None:
    text = (
        "Phone timestamp;RR-interval [ms]\n"
        "2024-03-01T10:00:00.500;812\n"
        "2024-03-01T10:00:01.420;798\n"
        "2024-03-01T10:00:01.420;805\n"
    )
    rec = read_rr_file(_write(tmp_path, "Polar_H10_X_RR.txt", text))
    assert rec.format == "polar-sensor-logger"
    np.testing.assert_array_equal(rec.rr_ms, [812.0, 798.0, 805.0])
    assert rec.start_time == datetime(2024, 3, 1, 10, 0, 0, 500000)
    assert rec.host_times_s is not None
    np.testing.assert_allclose(rec.host_times_s, [0.0, 0.92, 0.92])


def test_polar_sensor_logger_trailing_semicolons(tmp_path: Path) -> None:
    text = "Phone timestamp;RR-interval [ms];\n2024-03-01T10:00:00.500;812;\n"
    rec = read_rr_file(_write(tmp_path, "p.txt", text))
    assert rec.format == "polar-sensor-logger"
    assert rec.rr_ms.tolist() == [812.0]


def test_polar_bad_timestamp(tmp_path: Path) -> None:
    text = "Phone timestamp;RR-interval [ms]\n2024-03-01T10:00:00.500;812\nyesterday;798\n"
    with pytest.raises(MalformedFileError, match="ISO 8601") as info:
        read_rr_file(_write(tmp_path, "p.txt", text))
    assert info.value.line == 3


def test_hrv_logger(tmp_path: Path) -> None:
    text = "date,rr,since start\n2025-03-15 09:00:15.123,823,0\n2025-03-15 09:00:15.946,812,823\n"
    rec = read_rr_file(_write(tmp_path, "2025-03-15_RR_0001.csv", text))
    assert rec.format == "hrv-logger"
    np.testing.assert_array_equal(rec.rr_ms, [823.0, 812.0])
    assert rec.times_s is not None
    np.testing.assert_allclose(rec.times_s, [0.823, 1.635])
    assert rec.start_time == datetime(2025, 3, 15, 9, 0, 15, 123000)


def test_hrv_logger_bad_number(tmp_path: Path) -> None:
    text = "date,rr,since start\n2025-03-15 09:00:15.123,823,0\n2025-03-15 09:00:15.946,8x2,823\n"
    with pytest.raises(MalformedFileError, match="'8x2'") as info:
        read_rr_file(_write(tmp_path, "h.csv", text))
    assert info.value.line == 3


# ---------------------------------------------------------------------------- Elite HRV


@pytest.mark.parametrize("name", ["2017-06-29 13-11-53.txt", "elite_2017-06-29_13-11-53.txt"])
def test_elite_hrv_start_time_from_file_name(tmp_path: Path, name: str) -> None:
    rec = read_rr_file(_write(tmp_path, name, "720\n707\n681"))
    assert rec.format == "elite-hrv"
    assert rec.start_time == datetime(2017, 6, 29, 13, 11, 53)
    np.testing.assert_array_equal(rec.rr_ms, [720.0, 707.0, 681.0])


# ---------------------------------------------------------------------------- Sintonia beats


def _batch(who: str, seq: int, rr: list[float], t0: float, raw: bool = True) -> BeatBatch:
    rr_a = np.asarray(rr, dtype=np.float64)
    return BeatBatch(
        participant=who,
        device=f"sim:{who}",
        rr_ms=rr_a,
        rr_raw=tuple(round(v * 1.024) for v in rr) if raw else None,
        host_time_s=t0 + float(rr_a.sum()) / 1000.0 + 0.05,
        beat_times_s=t0 + np.cumsum(rr_a) / 1000.0,
        contact=True if raw else None,
        seq=seq,
    )


def test_beats_file_roundtrip_two_participants(tmp_path: Path) -> None:
    p = tmp_path / "session.csv"
    batches = [
        _batch("patient", 0, [812.5, 790.0], 1000.0),
        _batch("therapist", 0, [900.0], 1000.1),
        _batch("patient", 2, [801.7578125], 1001.6025),
        _batch("therapist", 1, [901.0, 0.1 + 0.2], 1001.0, raw=False),
    ]
    with BeatFileWriter(p) as w:
        for b in batches:
            w.append(b)
        assert w.n_beats == 6
    assert p.read_text().splitlines()[0] == BEATS_FILE_MAGIC
    recs = read_beats_file(p)
    assert list(recs) == ["patient", "therapist"]
    pat = recs["patient"]
    want = np.concatenate([batches[0].rr_ms, batches[2].rr_ms])
    np.testing.assert_array_equal(pat.rr_ms, want)  # bit-exact, repr round-trips float64
    assert pat.times_s is not None
    assert pat.host_times_s is not None
    np.testing.assert_array_equal(
        pat.times_s, np.concatenate([batches[0].beat_times_s, batches[2].beat_times_s])
    )
    assert pat.host_times_s.tolist() == [batches[0].host_time_s] * 2 + [batches[2].host_time_s]
    assert pat.seq is not None
    assert pat.seq.tolist() == [0, 1, 2]
    assert pat.rr_raw is not None
    assert pat.rr_raw.tolist() == [*batches[0].rr_raw, *batches[2].rr_raw]  # type: ignore[misc]
    assert pat.contact is not None
    assert pat.contact.tolist() == [1, 1, 1]
    ther = recs["therapist"]
    assert ther.rr_raw is not None
    assert ther.rr_raw.tolist() == [922, -1, -1]
    assert ther.contact is not None
    assert ther.contact.tolist() == [1, -1, -1]
    assert ther.rr_ms[-1] == 0.1 + 0.2
    # read_rr_file by participant, and refusing to guess between two
    np.testing.assert_array_equal(read_rr_file(p, participant="therapist").rr_ms, ther.rr_ms)
    with pytest.raises(MalformedFileError, match="2 participants"):
        read_rr_file(p)
    with pytest.raises(MalformedFileError, match="nobody"):
        read_rr_file(p, participant="nobody")


def test_beats_file_single_participant_reads_without_choice(tmp_path: Path) -> None:
    p = tmp_path / "one.csv"
    with BeatFileWriter(p) as w:
        w.append(_batch("patient", 0, [800.0, 810.0], 0.0))
    rec = read_rr_file(p)
    assert rec.format == "sintonia-beats"
    assert rec.participant == "patient"
    assert rec.device == "sim:patient"
    np.testing.assert_array_equal(rec.rr_ms, [800.0, 810.0])


def test_beats_file_flushes_each_batch_and_appends(tmp_path: Path) -> None:
    p = tmp_path / "live.csv"
    w = BeatFileWriter(p)
    w.append(_batch("patient", 0, [800.0], 0.0))
    # readable while still open: the batch was flushed
    assert read_rr_file(p).rr_ms.tolist() == [800.0]
    w.close()
    w.close()  # idempotent
    with pytest.raises(SourceStateError, match="closed"):
        w.append(_batch("patient", 1, [800.0], 0.8))
    with BeatFileWriter(p) as w2:  # reopening appends, no second header
        w2.append(_batch("patient", 1, [810.0], 0.8))
    assert read_rr_file(p).rr_ms.tolist() == [800.0, 810.0]
    assert p.read_text().count("participant,device") == 1


def test_beats_writer_refuses_foreign_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "rr.txt", "800\n")
    with pytest.raises(MalformedFileError, match="refusing to append"):
        BeatFileWriter(p)


def test_beats_file_malformed_row(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    with BeatFileWriter(p) as w:
        w.append(_batch("patient", 0, [800.0, 810.0], 0.0))
    lines = p.read_text().splitlines()
    lines[3] = lines[3].replace("810.0", "81O.0")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(MalformedFileError, match=r"'81O\.0'") as info:
        read_rr_file(p)
    assert info.value.line == 4


@settings(max_examples=30, deadline=None)
@given(
    rr=st.lists(st.floats(min_value=1e-3, max_value=1e5, allow_nan=False), min_size=1, max_size=20),
    t0=st.floats(min_value=0.0, max_value=2e9),
    contact=st.sampled_from([True, False, None]),
)
def test_beats_file_is_lossless_property(
    tmp_path_factory: pytest.TempPathFactory, rr: list[float], t0: float, contact: bool | None
) -> None:
    # Any float64 RR and time survive the file bit for bit (repr is the shortest round-trip form)
    p = tmp_path_factory.mktemp("lossless") / "b.csv"
    rr_a = np.asarray(rr)
    batch = BeatBatch("p", "d", rr_a, None, t0 + 1.0 / 3.0, t0 + np.cumsum(rr_a) / 7.0, contact)
    with BeatFileWriter(p) as w:
        w.append(batch)
    rec = read_rr_file(p)
    np.testing.assert_array_equal(rec.rr_ms, batch.rr_ms)
    assert rec.times_s is not None
    assert rec.host_times_s is not None
    np.testing.assert_array_equal(rec.times_s, batch.beat_times_s)
    assert rec.host_times_s.tolist() == [batch.host_time_s] * len(rr)
    assert rec.contact is not None
    assert set(rec.contact.tolist()) == {-1 if contact is None else int(contact)}


def test_beats_writer_refuses_commas_in_labels(tmp_path: Path) -> None:
    with BeatFileWriter(tmp_path / "b.csv") as w, pytest.raises(ValueError, match="commas"):
        w.append(BeatBatch("a,b", "d", np.array([800.0]), None, 1.0, np.array([1.0])))


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("p,d,1,1.8,800.0,x1,1.9,1", "rr_raw"),
        ("p,d,1,1.8,800.0,819,1.9,yes", "contact"),
        ("p,d,1.5,1.8,800.0,819,1.9,1", "integer seq"),
        ("p,d,1,1.8,800.0,819,1.9", "8 fields"),
    ],
)
def test_beats_file_bad_fields(tmp_path: Path, row: str, fragment: str) -> None:
    header = "participant,device,seq,beat_time_s,rr_ms,rr_raw,host_time_s,contact"
    text = f"{BEATS_FILE_MAGIC}\n{header}\np,d,0,1.0,800.0,819,1.0,1\n{row}\n"
    with pytest.raises(MalformedFileError, match=fragment) as info:
        read_rr_file(_write(tmp_path, "b.csv", text))
    assert info.value.line == 4


@settings(max_examples=30, deadline=None)
@given(
    rr=st.lists(st.floats(min_value=250.0, max_value=2500.0), min_size=2, max_size=30),
    sep=st.sampled_from([",", ";", "\t", " "]),
    two_columns=st.booleans(),
    header=st.booleans(),
)
def test_fast_and_line_by_line_parsers_agree(
    tmp_path_factory: pytest.TempPathFactory,
    rr: list[float],
    sep: str,
    two_columns: bool,
    header: bool,
) -> None:
    # A comment line sends the file through the line-by-line parser; without it numpy's reader
    # parses it. Both must give the same recording.
    times = (np.cumsum(rr) / 1000.0).tolist()
    body = [f"{t!r}{sep}{v!r}" if two_columns else repr(v) for t, v in zip(times, rr, strict=True)]
    head = ([f"time{sep}rr"] if two_columns else ["rr"]) if header else []
    d = tmp_path_factory.mktemp("agree")
    fast = d / "fast.txt"
    slow = d / "slow.txt"
    fast.write_text("\n".join(head + body))
    slow.write_text("\n".join([*head, "# forces the line-by-line parser", *body]))
    a, b = read_rr_file(fast), read_rr_file(slow)
    np.testing.assert_array_equal(a.rr_ms, b.rr_ms)
    np.testing.assert_array_equal(a.rr_ms, rr)
    assert a.unit_detected == b.unit_detected == "ms"
    if two_columns:
        assert a.times_s is not None
        assert b.times_s is not None
        np.testing.assert_array_equal(a.times_s, b.times_s)
    else:
        assert a.times_s is None
        assert b.times_s is None
