"""The offline HTML report: from a temporary SQLite store holding a simulated session to a file
opened in headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright).

The store is filled the way the live path fills it: participants with consents, a session from
the default first-session template, beats of the two-person simulator (one-hour first session:
stress episode in the map phase, paced breathing in rehearsal, an 8 s patient dropout with the
device's disconnect and reconnect), phase events, markers, and a cue with its response.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dashboard.events import find_forbidden_terms
from dashboard.phases import DEFAULT_FIRST_SESSION
from dashboard.report import AROUSAL_NOTICE, DASH, render_report
from dashboard.review import review_session
from sensor.simulator import ArtifactSpec, Scenario, simulate_session
from sensor.types import BeatBatch, DeviceEvent
from server.cli import main as cli_main
from server.cli.report import generate_report
from server.review_data import load_session_inputs
from server.storage import DeviceAssignment, Role, Store

T0 = 1_767_000_000.0  # session start on the store's clock (2025-12-29), s
DROPOUT_S = 2000.0
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
#: The top of an A4 page at 96 dpi, CSS px.
_A4_CLIP = {"x": 0.0, "y": 0.0, "width": 794.0, "height": 1123.0}


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _batches(
    code: str, times: np.ndarray, rr: np.ndarray, gap_at: list[int], size: int = 120
) -> list[BeatBatch]:
    """Chunks of beats; a new anchor (gap_before) at the start and at each index in gap_at."""
    cuts = sorted({0, *gap_at, *range(0, len(rr), size), len(rr)})
    out = []
    for a, b in itertools.pairwise(cuts):
        out.append(
            BeatBatch(
                participant=code,
                device=f"sim-{code}",
                rr_ms=rr[a:b],
                rr_raw=None,
                host_time_s=float(times[b - 1]),
                beat_times_s=times[a:b],
                contact=True,
                seq=a,
                gap_before=a == 0 or a in gap_at,
            )
        )
    return out


def fill_store(store: Store, clock: _Clock) -> int:
    """A stored, stopped one-hour simulated first session; returns its id."""
    sims = simulate_session(
        Scenario.first_session(),
        seed=1,
        artifacts={"patient": [ArtifactSpec("dropout", DROPOUT_S, 8.0)]},
    )
    clock.t = T0 - 600.0
    ids = {}
    roles: tuple[tuple[Role, str], ...] = (("patient", "P-017"), ("therapist", "T-003"))
    for role, code in roles:
        ids[role] = store.create_participant(code, role).id
        for purpose in ("storage", "review", "live_display", "synchrony"):
            store.grant_consent(ids[role], purpose, "v1")
    sid = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        label="first session",
        participants=[DeviceAssignment(ids[r], "simulator", "seed:1") for r in ids],
    ).id
    store.start_session(sid, at_s=T0)
    for role, code in (("patient", "P-017"), ("therapist", "T-003")):
        s = sims[role]
        gaps = [a.index for a in s.artifacts if a.kind == "dropout"]
        for batch in _batches(code, T0 + s.beat_times_s, s.rr_ms, gaps):
            store.append_beats(sid, ids[role], batch)
    store.add_device_events(
        sid,
        ids["patient"],
        [
            DeviceEvent("P-017", "sim-P-017", "connected", T0 - 5.0),
            DeviceEvent("P-017", "sim-P-017", "disconnected", T0 + DROPOUT_S),
            DeviceEvent("P-017", "sim-P-017", "connected", T0 + DROPOUT_S + 8.0),
        ],
    )
    for i, (spec, start) in enumerate(
        zip(DEFAULT_FIRST_SESSION.phases, DEFAULT_FIRST_SESSION.planned_starts_s(), strict=True)
    ):
        store.record_phase_event(sid, i, spec.id, "enter", at_s=T0 + start)
    store.record_phase_event(sid, 4, "closing", "end", at_s=T0 + 3600.0)
    store.add_marker(sid, "rupture", note="topic of the move", at_s=T0 + 900.0)
    store.add_marker(sid, "repair", at_s=T0 + 1100.0)
    store.add_marker(sid, "breathing_exercise", at_s=T0 + 2700.0)
    cue = store.add_cue(
        sid,
        "map_pacing",
        "Consider slowing the pace or offering a pause",
        {"reason": "patient above usual for 45 s in the map phase", "values": {"index": 1.4}},
        at_s=T0 + 760.0,
    )
    store.respond_to_cue(cue.id, "acknowledged", at_s=T0 + 766.0)
    store.add_cue(sid, "closing_settle", "Leave time to settle before ending", {}, at_s=T0 + 3400)
    store.stop_session(sid, at_s=T0 + 3600.0)
    clock.t = T0 + 7200.0
    return sid


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int]]:
    path = tmp_path_factory.mktemp("report") / "sintonia.sqlite"
    clock = _Clock(T0)
    store = Store.open(f"sqlite:///{path}", clock=clock)
    sid = fill_store(store, clock)
    yield store, sid
    store.close()


@pytest.fixture(scope="module")
def report_file(stored: tuple[Store, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store, sid = stored
    return generate_report(store, sid, tmp_path_factory.mktemp("out") / "report.html")


def _visible_text(page_html: str) -> str:
    body = page_html.split("</head>", 1)[1]
    body = re.sub(r"<script.*?</script>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_loader_times_are_relative_to_the_session_start(stored: tuple[Store, int]) -> None:
    store, sid = stored
    inputs = load_session_inputs(store, sid)
    assert inputs.duration_s == pytest.approx(3600.0)
    assert [p.code for p in inputs.participants] == ["P-017", "T-003"]
    sims = simulate_session(Scenario.first_session(), seed=1)
    # beat times are stored as float64 epoch seconds: T0 subtracted again within 1e-6 s
    np.testing.assert_allclose(
        inputs.participants[1].time_s, sims["therapist"].beat_times_s, atol=1e-6
    )
    assert int(inputs.participants[0].gap_before.sum()) == 2  # first beat and after the dropout
    assert [m.time_s for m in inputs.markers] == pytest.approx([900.0, 1100.0, 2700.0])
    assert inputs.cues[0].response == "acknowledged"
    assert inputs.cues[0].responded_at_s == pytest.approx(766.0)
    assert inputs.cues[0].reason == "patient above usual for 45 s in the map phase"


def test_participant_without_review_consent_is_left_out(stored: tuple[Store, int]) -> None:
    store, _ = stored
    p = store.create_participant("P-099", "patient")
    store.grant_consent(p.id, "storage", "v1")
    t = store.create_participant("T-099", "therapist")
    store.grant_consent(t.id, "review", "v1")
    sid = store.create_session(
        DEFAULT_FIRST_SESSION.to_dict(),
        participants=[DeviceAssignment(p.id, "file", None), DeviceAssignment(t.id, "file", None)],
    ).id
    inputs = load_session_inputs(store, sid)
    assert [b.code for b in inputs.participants] == ["T-099"]
    assert inputs.notes == ("P-099 (patient) is left out: no active consent for review.",)
    assert inputs.synchrony_allowed is False  # T-099 has no synchrony consent


def test_report_content_and_audit(stored: tuple[Store, int], report_file: Path) -> None:
    store, sid = stored
    page = report_file.read_text(encoding="utf-8")
    text = _visible_text(page)
    assert page.count("<script") >= 2
    assert len(re.findall(r"https?://(?!www\.w3\.org)", page.split("</head>", 1)[1])) == 0
    assert "<script src" not in page
    assert "<link" not in page
    assert f"Session {sid}" in text
    assert "P-017 (patient)" in text
    assert "T-003 (therapist)" in text
    assert "2025-12-29" in text  # date of T0 in UTC
    assert " ".join(AROUSAL_NOTICE.split()) in " ".join(text.split())
    assert find_forbidden_terms(text) == []
    phase_section = _visible_text("</head>" + page.split("<h2>Per phase</h2>", 1)[1])
    phase_section = phase_section.split("Regulation patterns", 1)[0]
    assert phase_section.count("Mind-body-context map") == 2  # one table per person
    # per-phase bars with the usual range, one figure per person (issue 13, item 12)
    assert 'id="figure-phases-0"' in page
    assert 'id="figure-phases-1"' in page
    assert "usual range, from their resting baseline" in text
    assert "acknowledged after 6 s" in text
    # the therapist's plain reason in the table; the rule's numbers only in the details view
    cue_table = page.split("<h3>Cues and the therapist's response</h3>", 1)[1]
    table, rest = cue_table.split("</table>", 1)
    assert "patient above usual for 45 s in the map phase" in table
    assert "map_pacing" not in table
    assert "index +1.40" not in table
    details = rest.split("<details", 1)[1].split("</details>", 1)[0]
    assert "rule map_pacing; index +1.40" in details
    assert "no response recorded" in text
    assert "@media print" in page
    assert load_session_inputs(store, sid).synchrony_allowed
    # never a synchrony number without its surrogate comparison
    table = page.split("<h2>Therapist-patient synchrony</h2>", 1)[1].split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert len(rows) == 6  # the whole session (the one number), then the five phases
    assert "Whole session" in rows[0]
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert (cells[2] == DASH) == (cells[3] == DASH) == (cells[5] == DASH)
        # a p at its floor is starred, and then the report says what that means
        if cells[5].endswith("*"):
            assert "no surrogate pairing reached the observed value" in text
    assert "window-shift surrogates" in text
    assert 'id="figure-synchrony"' in page  # each phase against its surrogates
    audit = store.list_audit(object_type="session", object_id=sid)
    entries = [a for a in audit if a.action == "report.generate"]
    assert len(entries) == 1
    assert entries[0].detail["participants"] == ["P-017", "T-003"]


def test_report_shows_dash_for_short_phases(stored: tuple[Store, int]) -> None:
    store, sid = stored
    inputs = load_session_inputs(store, sid)
    review = review_session(inputs)
    closing = [p.phases[-1] for p in review.participants]
    # closing lasts 5 min (>= 2 min): LF/HF is computed; a session cut at 90 s gives a dash
    assert all(row.lf_hf is not None for row in closing)
    short = type(inputs)(
        session_id=inputs.session_id,
        label=inputs.label,
        started_at_s=inputs.started_at_s,
        duration_s=90.0,
        template=inputs.template,
        participants=inputs.participants,
    )
    page = render_report(review_session(short))
    row = re.search(r"<td class=\"text\">Welcome</td>.*?</tr>", page, flags=re.S)
    assert row is not None
    assert row.group(0).removesuffix("</tr>").endswith(f"<td>{DASH}</td>")


def test_cli_writes_the_report(stored: tuple[Store, int], tmp_path: Path) -> None:
    store, sid = stored
    url = store.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "cli.html"
    assert cli_main(["report", str(sid), "--out", str(out), "--database-url", url]) == 0
    assert out.stat().st_size > 1_000_000  # plotly.js (several MB) is inside the file
    assert cli_main(["report", "424242", "--out", str(out), "--database-url", url]) == 2


@pytest.mark.slow
def test_report_renders_offline_in_chromium(report_file: Path, browser: Any) -> None:
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:

        def route(r: Any) -> None:
            url = r.request.url
            requests.append(url)
            if url.startswith(("file:", "data:", "blob:")):
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        page.on("request", lambda req: requests.append(req.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(report_file.as_uri(), wait_until="load")
        page.wait_for_selector("#figure-session .main-svg", timeout=20_000)
        n_svg = page.locator("#figure-session .main-svg").count()
        n_lines = page.locator("#figure-session .scatterlayer .trace").count()
        n_ribbon = page.evaluate(
            "document.getElementById('figure-session').layout.shapes"
            ".filter(s => (s.name || '').startsWith('phase:')).length"
        )
        # the per-phase bars and the synchrony figure draw (issue 13, item 12)
        page.wait_for_selector("#figure-phases-0 .main-svg", timeout=20_000)
        n_bars = page.locator("#figure-phases-0 .barlayer .point").count()
        n_bands = page.evaluate(
            "document.getElementById('figure-phases-0').layout.shapes"
            ".filter(s => (s.name || '').startsWith('usual:')).length"
        )
        has_sync = page.locator("#figure-synchrony").count() > 0
        n_sync_points = (
            page.locator("#figure-synchrony .scatterlayer .point").count() if has_sync else -1
        )
        page.locator("#figure-phases-0").screenshot(path=str(OUTPUT / "report-phase-bars.png"))
        if has_sync:
            page.locator("#figure-synchrony").screenshot(path=str(OUTPUT / "report-synchrony.png"))
        page.screenshot(path=str(OUTPUT / "report.png"), full_page=True)
        page.screenshot(path=str(OUTPUT / "report-top.png"))
        page.emulate_media(media="print")
        # plotly does not redraw for print: the figure is zoomed to the A4 width (700 px)
        print_width = page.evaluate(
            "document.querySelector('#figure-session .main-svg').getBoundingClientRect().width"
        )
        page.screenshot(path=str(OUTPUT / "report-print.png"), clip=_A4_CLIP)
    finally:
        page.close()
    assert errors == []
    assert n_svg >= 1
    assert n_lines >= 6  # arousal, HR and RMSSD of two people at least
    assert n_ribbon == 5
    assert n_bars == 10  # 5 phases x (mean HR, RMSSD)
    assert n_bands == 2
    if has_sync:
        assert n_sync_points == 10  # 5 phases x (real pairing, surrogates)
    assert 600.0 <= print_width <= 701.0
    outside = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert outside == []
    assert any(u.startswith("file:") for u in requests)
