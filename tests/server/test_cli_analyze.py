"""`sintonia analyze`: the table, the JSON contract and the exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from server.cli import main

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
TIME_KEYS = {
    "mean_rr_ms", "sdnn_ms", "mean_hr_bpm", "min_hr_bpm", "max_hr_bpm", "rmssd_ms", "sdsd_ms",
    "nn50", "pnn50_pct", "ln_rmssd", "tri_index", "tinn_ms", "std_hr_bpm", "sdann_ms",
    "sdnn_index_ms", "stress_index", "pns_index", "sns_index",
}  # fmt: skip
FREQ_KEYS = {
    "method", "vlf_ms2", "lf_ms2", "hf_ms2", "total_ms2", "lf_hf", "lf_nu", "hf_nu",
    "vlf_peak_hz", "lf_peak_hz", "hf_peak_hz",
}  # fmt: skip
NONLINEAR_KEYS = {
    "sd1_ms", "sd2_ms", "sd2_sd1", "sampen", "dfa_alpha1", "dfa_alpha2", "apen", "mse", "d2",
    "rpa_rec_pct", "rpa_det_pct", "rpa_lmean", "rpa_lmax", "rpa_shannon",
}  # fmt: skip


def _rr(n: int = 900, seed: int = 3) -> np.ndarray:
    """A clean 12-minute series: 0.25 Hz respiratory modulation plus noise, around 75 bpm."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    x = 800.0 + 35.0 * np.sin(2 * np.pi * 0.25 * 0.8 * k) + rng.normal(0.0, 12.0, n)
    return np.asarray(x, dtype=np.float64)


@pytest.fixture
def rr_file(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rr = np.round(_rr(), 1)
    path = tmp_path / "rec.txt"
    path.write_text("# a comment line\n" + "\n".join(f"{v:.1f}" for v in rr) + "\n")
    return path, rr


def test_json_contract_and_values(
    rr_file: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    path, rr = rr_file
    assert main(["analyze", str(path), "--json", "--correct", "none"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one JSON object on one line
    d = json.loads(out)
    assert {"n_beats", "duration_s", "rr_unit_detected", "artifacts", "time", "frequency",
            "nonlinear"} <= set(d)  # fmt: skip
    assert set(d["time"]) == TIME_KEYS
    assert set(d["frequency"]) == FREQ_KEYS
    assert set(d["nonlinear"]) == NONLINEAR_KEYS
    assert {"n", "pct", "by_type"} <= set(d["artifacts"])
    assert d["rr_unit_detected"] == "ms"
    assert d["n_beats"] == rr.size
    assert d["duration_s"] == pytest.approx(rr.sum() / 1000.0)
    # independent textbook values computed here (Task Force 1996), same data, no correction
    diff = np.diff(rr)
    assert d["time"]["rmssd_ms"] == pytest.approx(np.sqrt(np.mean(diff**2)), rel=1e-12)
    assert d["time"]["sdnn_ms"] == pytest.approx(np.std(rr, ddof=1), rel=1e-12)
    assert d["time"]["nn50"] == int(np.sum(np.abs(diff) > 50))
    assert d["frequency"]["method"] == "welch"
    # respiration: 0.2 cycles per beat at 0.8 s per beat = 0.25 Hz: HF must dominate
    assert d["frequency"]["hf_ms2"] > d["frequency"]["lf_ms2"]
    assert d["frequency"]["hf_peak_hz"] == pytest.approx(0.25, abs=0.01)


def test_seconds_are_detected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rr = _rr()
    path = tmp_path / "rec_s.txt"
    path.write_text("\n".join(f"{v / 1000:.4f}" for v in rr))
    assert main(["analyze", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rr_unit_detected"] == "s"
    assert d["time"]["mean_rr_ms"] == pytest.approx(
        np.mean(np.round(rr / 1000, 4) * 1000), rel=1e-9
    )


def test_artifacts_are_counted_and_corrected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = _rr()
    rr[300] = 4000.0  # a dropout gap: implausible, not an error
    path = tmp_path / "gap.txt"
    path.write_text("\n".join(f"{v:.1f}" for v in rr))
    assert main(["analyze", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["artifacts"]["n"] >= 1
    assert d["artifacts"]["corrected"] is True
    # after correction the gap no longer dominates the variability
    assert d["time"]["max_hr_bpm"] < 100
    assert d["time"]["min_hr_bpm"] > 40


def test_table_output(rr_file: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = rr_file
    assert main(["analyze", str(path), "--psd", "lomb"]) == 0
    out = capsys.readouterr().out
    for heading in ("RMSSD", "Frequency domain (lomb)", "DFA alpha1"):
        assert heading in out


def test_short_recording_reports_missing_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.txt"
    path.write_text("\n".join(f"{v:.1f}" for v in _rr(40)))
    assert main(["analyze", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["time"]["rmssd_ms"] is not None
    assert d["frequency"]["lf_ms2"] is None  # 30 s is too short for LF, never a made-up number
    assert any("frequency" in n for n in d["notes"])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("800\n810\nabc\n790\n", ":3"),  # the line number of the bad line
        ("", "empty"),
        ("800\n-5\n810\n", "bad.txt:2: RR value -5 ms is not an RR interval"),
    ],
)
def test_unreadable_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert expected in err


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err


def test_console_script_runs(rr_file: tuple[Path, np.ndarray]) -> None:
    exe = shutil.which("sintonia") or str(Path(sys.executable).parent / "sintonia")
    proc = subprocess.run(
        [exe, "analyze", str(rr_file[0]), "--json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_beats"] == rr_file[1].size


def test_ar_spectrum_and_hr_average_options(
    rr_file: tuple[Path, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    path, rr = rr_file
    assert main(["analyze", str(path), "--json", "--correct", "none", "--psd", "ar"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["frequency"]["method"] == "ar"
    assert d["frequency"]["hf_peak_hz"] == pytest.approx(0.25, abs=0.01)  # the 0.25 Hz modulation
    # Kubios heart rate: 60000 / mean RR, 60000 / max RR, 60000 / min RR
    assert d["time"]["mean_hr_bpm"] == pytest.approx(60000.0 / rr.mean())
    assert d["time"]["min_hr_bpm"] == pytest.approx(60000.0 / rr.max())
    assert d["time"]["max_hr_bpm"] == pytest.approx(60000.0 / rr.min())
    assert main(["analyze", str(path), "--json", "--hr-average-beats", "5"]) == 0
    d5 = json.loads(capsys.readouterr().out)
    assert d["time"]["min_hr_bpm"] <= d5["time"]["min_hr_bpm"] <= d5["time"]["max_hr_bpm"]
    assert d5["time"]["max_hr_bpm"] <= d["time"]["max_hr_bpm"]
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(path), "--hr-average-beats", "0"])
    assert info.value.code == 2
    assert "positive whole number" in capsys.readouterr().err


def test_long_record_notes_the_capped_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = np.round(_rr(n=5200, seed=4), 1)
    path = tmp_path / "long.txt"
    path.write_text("\n".join(f"{v:.1f}" for v in rr) + "\n")
    assert main(["analyze", str(path), "--json", "--correct", "none"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert any("first 5000 of 5200 beats" in n for n in d["notes"])
    assert any(n.startswith("sampen:") and "windows" in n for n in d["notes"])
    assert d["nonlinear"]["rpa_rec_pct"] is not None
    assert len(d["nonlinear"]["mse"]) == 20


# ------------------------------------------------ issue 13, item 11: inputs that are not RR text


def test_binary_file_says_it_is_not_a_text_rr_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "image.bin"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not a text RR file" in err
    assert "Kubios" in err  # which formats are read
    assert "\\x" not in err  # no escaped bytes
    assert len(err) < 400


def test_utf16_text_is_read_and_utf16_without_bom_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rr = np.round(_rr(300), 1)
    text = "\n".join(f"{v:.1f}" for v in rr) + "\n"
    path = tmp_path / "notepad.txt"
    path.write_text(text, encoding="utf-16")  # with a byte-order mark, as Windows Notepad writes
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_beats"] == rr.size
    path.write_bytes(text.encode("utf-16-le"))  # no byte-order mark
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not a text RR file" in err


@pytest.mark.parametrize("bad", ["0", "-750", "nan", "inf", "-inf", "1e308", "1e7"])
def test_extreme_values_give_file_and_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    path = tmp_path / "rr.txt"
    path.write_text("RR (ms)\n# resting\n" + "800\n" * 40 + f"{bad}\n" + "810\n" * 40)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"rr.txt:43: RR value {float(bad):g} ms is not an RR interval" in err
    assert "np.float64" not in err
    assert "index" not in err


def test_a_corrupt_value_of_a_file_in_seconds_is_named_in_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rr_s.txt"
    path.write_text("0.800\n" * 30 + "-0.75\n" + "0.810\n" * 30)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rr_s.txt:31: RR value -0.75 s is not an RR interval" in err


def test_extreme_value_through_the_console_script_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "rr.txt"
    path.write_text("800\n" * 40 + "1e308\n" + "810\n" * 40)
    exe = shutil.which("sintonia") or str(Path(sys.executable).parent / "sintonia")
    proc = subprocess.run([exe, "analyze", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Warning" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "rr.txt:41:" in proc.stderr


def test_long_computations_write_progress_to_stderr() -> None:
    import io
    import threading

    from server.cli.analyze import progress_on

    stream = io.StringIO()
    seen = threading.Event()

    class Watch(io.StringIO):
        def flush(self) -> None:
            seen.set()

    watch = Watch()
    with progress_on(watch, "analysing 86400 beats (Lomb-Scargle)", after_s=0.0, every_s=60.0):
        assert seen.wait(30.0)  # the body "computes" until the first progress line is out
    assert watch.getvalue().startswith("sintonia analyze: analysing 86400 beats (Lomb-Scargle)... ")
    assert watch.getvalue().count("\n") == 1  # one line per tick when not a terminal
    # a quick body writes nothing
    with progress_on(stream, "analysing 10 beats", after_s=60.0):
        pass
    assert stream.getvalue() == ""


# --------------------------------------------- issue 13, item 12: analyze --html, offline figure


def test_html_figure_of_the_recording(
    rr_file: tuple[Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    path, rr = rr_file
    out = tmp_path / "rec.html"
    assert main(["analyze", str(path), "--html", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_beats"] == rr.size  # --json unchanged
    page = out.read_text(encoding="utf-8")
    body = page.split("</head>", 1)[1]
    assert "<script src" not in page  # plotly.js inlined from the installed package, no CDN
    assert "<link" not in page
    assert re.findall(r"https?://(?!www\.w3\.org)", body) == []
    assert 'id="figure-recording"' in page
    for kind in ("rr", "corrected", "artifacts", "psd", "poincare"):
        assert f'"kind":"{kind}"' in page.replace(" ", "")


def test_html_figure_renders_offline_in_chromium(
    rr_file: tuple[Path, np.ndarray], tmp_path: Path, browser: Any
) -> None:
    path, rr = rr_file
    bad = rr.copy()
    bad[100] = 2 * bad[100]  # a missed beat: drawn as an artifact
    path.write_text("\n".join(f"{v:.1f}" for v in bad) + "\n")
    out = tmp_path / "rec.html"
    assert main(["analyze", str(path), "--html", str(out)]) == 0
    requests: list[str] = []
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:

        def route(r: Any) -> None:
            requests.append(r.request.url)
            if r.request.url.startswith(("file:", "data:", "blob:")):
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(out.as_uri(), wait_until="load")
        page.wait_for_selector("#figure-recording .main-svg", timeout=20_000)
        kinds = page.evaluate(
            "document.getElementById('figure-recording')._fullData"
            ".filter(t => t.meta).map(t => [t.meta.kind, t._length])"
        )
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "analyze-html.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
    drawn = dict(kinds)
    assert set(drawn) == {"rr", "corrected", "artifacts", "psd", "poincare"}
    assert drawn["rr"] == rr.size
    assert drawn["artifacts"] >= 1
