"""The session benchmarks run end to end on a few tiny images and print
their tables (their figures are for the README, not asserted here)."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith(f"| {first_cell}")]


def test_round_overhead_prints_each_step_beside_the_forward_pass(tmp_path):
    text = run_benchmark("round_overhead.py", "--images", "2", "--size", "48", "64",
                         "--steps", "2", "--out", str(tmp_path))
    assert "One A²LC round on 2 images of 48×64" in text
    steps = {row[0]: row for row in table_rows(text, "")}
    for step in ("Training model", "Ranking regions", "Running the LCM",
                 "**everything but training**",
                 "forward pass alone (network on the downscaled image)",
                 "region summaries from the output in memory"):
        assert step in steps, step
    assert steps["forward pass alone (network on the downscaled image)"][2] == "1.0×"
    assert "Inference and summaries of all 2 images" in text


def test_session_scale_prints_a_row_per_size_and_worker_count(tmp_path):
    text = run_benchmark("session_scale.py", "--images", "2", "3", "--size", "48", "64",
                         "--workers", "1", "2", "--steps", "2", "--out", str(tmp_path))
    rows = [row[:2] for row in table_rows(text, "") if row[0].isdigit()]
    assert rows == [["2", "1"], ["2", "2"], ["3", "1"], ["3", "2"]]
    assert (tmp_path / "session_3_2" / "log" / "round_01.json").is_file()
    assert "per extra image" in text
