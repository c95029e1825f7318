"""``sintonia simulate --out FILE --minutes N``: write one participant's simulated beats.

The beats travel the live path (0x2A37 payloads -> :class:`sensor.decoder.NotificationDecoder`)
and are written as a Sintonia beats CSV (:class:`sensor.files.BeatFileWriter`), which
``sintonia analyze`` and :class:`sensor.replay.ReplaySource` read.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Final

from hrv.errors import ParameterError, SintoniaError
from sensor.files import BeatFileWriter
from sensor.simulator import ArtifactKind, ArtifactSpec, Role, Scenario, SimulatedSource
from sensor.types import BeatBatch

__all__ = ["parse_artifacts", "register", "run"]

_ARTIFACT: Final[re.Pattern[str]] = re.compile(
    r"^(ectopic|missed|extra|dropout)@(\d+(?:\.\d*)?)(?::(\d+(?:\.\d*)?))?$"
)


def parse_artifacts(text: str) -> list[ArtifactSpec]:
    """Parse ``"ectopic@120,missed@300,dropout@600:5"`` (kind@seconds[:dropout seconds]).

    Examples
    --------
    >>> [(a.kind, a.time_s, a.duration_s) for a in parse_artifacts("extra@10,dropout@60:5")]
    [('extra', 10.0, 4.0), ('dropout', 60.0, 5.0)]
    """
    specs: list[ArtifactSpec] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _ARTIFACT.match(part)
        if m is None:
            raise ParameterError(
                f"expected KIND@SECONDS[:DURATION] with KIND ectopic, missed, extra or dropout, "
                f"got {part!r}"
            )
        kind: ArtifactKind = m.group(1)  # type: ignore[assignment]
        duration = float(m.group(3)) if m.group(3) else 4.0
        specs.append(ArtifactSpec(kind, float(m.group(2)), duration_s=duration))
    return specs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` sub-command."""
    p = sub.add_parser(
        "simulate",
        help="write one participant's simulated beats to a file",
        description="Simulate a session (IPFM model with respiratory sinus arrhythmia, Mayer "
        "waves, 1/f variability and an arousal schedule) and write one participant's beats, "
        "as decoded from simulated 0x2A37 notifications, to a Sintonia beats CSV.",
    )
    p.add_argument("--out", required=True, help="output file (Sintonia beats CSV)")
    p.add_argument("--minutes", type=float, required=True, help="session length, minutes")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--role", choices=("patient", "therapist"), default="patient", help="whose beats"
    )
    p.add_argument(
        "--scenario",
        choices=("first-session", "calm"),
        default="first-session",
        help="first-session: stress episode in the map phase, paced breathing in rehearsal "
        "(phases scaled to --minutes); calm: steady rest",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="stream at this multiple of real time with a progress line (default: at once)",
    )
    p.add_argument(
        "--artifacts",
        default="",
        metavar="SPEC",
        help="inject artifacts, e.g. 'ectopic@120,missed@300,extra@400,dropout@600:5' "
        "(kind@seconds[:dropout seconds])",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``sintonia simulate``; returns the exit code (2 on bad input)."""
    out = Path(args.out)
    try:
        if not args.minutes > 0:
            raise ParameterError(f"--minutes must be > 0, got {args.minutes}")
        if args.speed is not None and not args.speed > 0:
            raise ParameterError(f"--speed must be > 0, got {args.speed}")
        artifacts = parse_artifacts(args.artifacts)
        if out.exists():
            if not args.force:
                raise ParameterError(f"{out} exists (use --force to overwrite)")
            out.unlink()
    except (ValueError, OSError) as exc:
        print(f"sintonia simulate: {exc}", file=sys.stderr)
        return 2
    duration_s = args.minutes * 60.0
    scenario = (
        Scenario.first_session(duration_s)
        if args.scenario == "first-session"
        else Scenario.calm(duration_s)
    )
    role: Role = args.role
    source = SimulatedSource(
        scenario,
        seed=args.seed,
        roles=(role,),
        speed=args.speed,
        artifacts={role: artifacts},
        start_time_s=time.time(),
    )
    try:
        n_beats, last_hr = asyncio.run(_write(source, out, progress=args.speed is not None))
    except (SintoniaError, ValueError) as exc:
        print(f"sintonia simulate: {exc}", file=sys.stderr)
        return 2
    hr = f", last HR {last_hr} bpm" if last_hr is not None else ""
    print(
        f"wrote {n_beats} beats of the {role} ({args.minutes:g} min, seed {args.seed}{hr}) to {out}"
    )
    return 0


async def _write(source: SimulatedSource, out: Path, *, progress: bool) -> tuple[int, int | None]:
    n = 0
    hr: int | None = None
    t0: float | None = None
    with BeatFileWriter(out) as writer:
        async for item in source:
            if not isinstance(item, BeatBatch):
                continue
            if t0 is None:
                t0 = item.host_time_s
            hr = item.heart_rate_bpm if item.heart_rate_bpm is not None else hr
            if len(item):
                writer.append(item)
                n += len(item)
            if progress:
                elapsed = item.host_time_s - t0
                print(
                    f"\r{elapsed / 60:5.1f} min  HR {hr if hr is not None else '-':>3} bpm  "
                    f"contact {'yes' if item.contact else 'no'}  beats {n}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    if progress:
        print(file=sys.stderr)
    return n, hr
