"""A physiologically plausible two-person RR simulator (patient and therapist), deterministic.

Each participant's heart is an integral pulse frequency modulation (IPFM) generator driven by an
arousal schedule, respiratory sinus arrhythmia with baroreflex resonance, Mayer waves and 1/f
variability; with a :class:`Coupling`, the therapist follows part of the patient's arousal with
a lag. RR values are quantised like a strap's and artifacts are injected where asked, with their
ground truth.

* :mod:`~sensor.simulator.scenario`: what is played (:class:`Scenario`, :class:`Schedule`,
  :class:`ParticipantProfile`, :class:`Coupling`, :class:`ArtifactSpec`) and what comes out
  (:class:`SimulatedRR`, :class:`InjectedArtifact`);
* :mod:`~sensor.simulator.model`: the model, its equations and references, and the offline
  generators :func:`simulate_rr` and :func:`simulate_session`;
* :mod:`~sensor.simulator.source`: the simulator as a strap, :func:`notifications_for` (0x2A37
  payloads) and :class:`SimulatedSource` (a :class:`~sensor.types.BeatSource` feeding them
  through the real notification decoder).
"""

from __future__ import annotations

from sensor.simulator.model import GRID_HZ, simulate_rr, simulate_session
from sensor.simulator.model import RESONANCE_HZ as RESONANCE_HZ
from sensor.simulator.scenario import (
    ArtifactKind,
    ArtifactSpec,
    Coupling,
    InjectedArtifact,
    ParticipantProfile,
    Role,
    Scenario,
    Schedule,
    SimulatedRR,
)
from sensor.simulator.source import Notification, SimulatedSource, notifications_for

__all__ = [
    "GRID_HZ",
    "ArtifactKind",
    "ArtifactSpec",
    "Coupling",
    "InjectedArtifact",
    "Notification",
    "ParticipantProfile",
    "Role",
    "Scenario",
    "Schedule",
    "SimulatedRR",
    "SimulatedSource",
    "notifications_for",
    "simulate_rr",
    "simulate_session",
]
