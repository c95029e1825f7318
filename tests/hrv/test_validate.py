"""validate_rr: the one entry check of the HRV pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from hrv import InsufficientDataError, InvalidRRError, SintoniaError, validate_rr
from hrv.validate import require_beats


def test_returns_float64_copy_never_alias() -> None:
    src = np.array([800, 810, 790], dtype=np.int64)
    out = validate_rr(src)
    assert out.dtype == np.float64
    assert out.tolist() == [800.0, 810.0, 790.0]
    f = np.array([800.0, 810.0])
    out2 = validate_rr(f)
    out2[0] = 1.0
    assert f[0] == 800.0


@pytest.mark.parametrize(
    ("values", "index", "bad"),
    [
        ([800, float("nan"), 810], 1, "nan"),
        ([800, 810, float("inf")], 2, "inf"),
        ([800, 0, 810], 1, "0.0"),
        ([-5, 800], 0, "-5.0"),
    ],
)
def test_corrupt_values_name_first_offending_index(
    values: list[float], index: int, bad: str
) -> None:
    with pytest.raises(InvalidRRError) as info:
        validate_rr(values)
    assert info.value.index == index
    assert f"index {index}" in str(info.value)
    assert bad in str(info.value)
    assert isinstance(info.value, SintoniaError)


def test_implausible_values_are_not_errors() -> None:
    # a 4 s dropout gap and a 150 ms double detection are artifacts, not corrupt data
    out = validate_rr([800, 4000, 150, 810])
    assert out.tolist() == [800.0, 4000.0, 150.0, 810.0]


@pytest.mark.parametrize("bad", [[[800, 810], [790, 800]], ["800", "abc"], 800.0])
def test_wrong_shape_or_type(bad: object) -> None:
    with pytest.raises(InvalidRRError, match="RR intervals"):
        validate_rr(bad)  # type: ignore[arg-type]


def test_require_beats_message() -> None:
    with pytest.raises(InsufficientDataError, match="RMSSD needs at least 2 beats, got 1") as info:
        require_beats(np.array([800.0]), 2, "RMSSD")
    assert (info.value.needed, info.value.got) == (2, 1)
    require_beats(np.array([800.0, 810.0]), 2, "RMSSD")


@pytest.mark.parametrize("huge", [1e308, 3_600_000.5, 1e10])
def test_values_above_one_hour_are_corrupt(huge: float) -> None:
    # 1e308 overflows every sum of squares and 1e10 asks the 4 Hz spectrum for 4e7 samples
    with pytest.raises(InvalidRRError, match="index 1"):
        validate_rr([800, huge, 810])
    assert validate_rr([800, 3_600_000.0]).tolist() == [800.0, 3_600_000.0]
