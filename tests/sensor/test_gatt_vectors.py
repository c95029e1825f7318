"""sensor.gatt against the shared 0x2A37 vector file (the patient's page parses the same file)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from sensor.errors import MalformedPacketError
from sensor.gatt import parse_heart_rate_measurement, rr_raw_to_ms

VECTORS: dict[str, Any] = json.loads(
    resources.files("dashboard").joinpath("static", "hrm_vectors.json").read_text("utf-8")
)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["hex"])
def test_valid_vectors(case: dict[str, Any]) -> None:
    m = parse_heart_rate_measurement(bytes.fromhex(case["hex"]))
    assert m.heart_rate_bpm == case["heart_rate_bpm"]
    assert m.contact is case["contact"]
    assert m.energy_expended_kj == case["energy_expended_kj"]
    assert list(m.rr_raw) == case["rr_raw"]
    assert list(m.rr_ms) == [rr_raw_to_ms(r) for r in case["rr_raw"]]


@pytest.mark.parametrize("hex_payload", VECTORS["malformed"])
def test_malformed_vectors(hex_payload: str) -> None:
    with pytest.raises(MalformedPacketError):
        parse_heart_rate_measurement(bytes.fromhex(hex_payload))
