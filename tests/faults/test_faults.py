"""Faults: kill -9 of trials and writers, full disks, concurrent runs, hostile files."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchsel.store import ResultsStore, TrialRecord

pytestmark = pytest.mark.slow
FAST = {
    "training": {"iterations": 2, "batch_size": 2},
    "measurement": {
        "batch_sizes": [1],
        "device": "cpu",
        "min_iters": 2,
        "min_seconds": 0,
        "warmup_iters": 1,
    },
}
RTMDET = {"id": "rtmdet-tiny", "task": "detection", "input_size": [64, 64]}
UNET = {"id": "unet-s5-d16", "task": "semantic", "variants": ["light"], "input_size": [64, 64]}


def _suite(tmp_path: Path, candidates: list[dict], iterations: int = 2) -> Path:
    data = {
        "name": "t",
        "dataset": {"sample": {"images": 12, "size": 64}},
        "candidates": candidates,
        "output": "out",
        **FAST,
    }
    data["training"] = {**FAST["training"], "iterations": iterations}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _trials(tmp_path: Path) -> list[TrialRecord]:
    with ResultsStore(tmp_path / "out" / "t.sqlite") as store:
        assert store.integrity_ok()
        return store.trials()


def _worker_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"benchsel.pipeline.worker" in cmd:
                pids.append(int(proc.name))
    return pids


def _wait_for(predicate, timeout=300.0, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_kill_9_of_a_trial_is_a_failed_row_and_a_rerun_completes(tmp_path, benchsel):
    path = _suite(tmp_path, [RTMDET], iterations=400)
    driver = subprocess.Popen(
        [str(benchsel.script), "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    progress = lambda: list((tmp_path / "out" / "trials").glob("*/progress.json"))  # noqa: E731
    _wait_for(progress)
    (pid,) = _wait_for(_worker_pids)
    os.kill(pid, signal.SIGKILL)
    out, _ = driver.communicate(timeout=300)
    assert driver.returncode == 2, out
    assert "Traceback" not in out, out
    (trial,) = _trials(tmp_path)
    assert trial.status == "failed" and "killed by signal 9" in trial.error

    # the rerun redoes only the failed trial, with a short budget this time
    short = yaml.safe_load(path.read_text())
    short["training"]["iterations"] = 2
    path.write_text(yaml.safe_dump(short))
    rerun = benchsel("run", str(path), timeout=900)
    assert rerun.code == 0, rerun.output
    statuses = sorted(t.status for t in _trials(tmp_path))
    assert statuses == ["failed", "ok"]  # the 400-iteration spec stays failed, no duplicate


WRITER = """
import sys, time
from benchsel.store import ResultsStore, TrialRecord
store = ResultsStore(sys.argv[1])
i = 0
while True:
    metrics = {f"m{k}": float(i) for k in range(20000)}
    store.save_trial(TrialRecord(hash="same", suite_name="s", arch_id="a", family="yolo",
        task="detection", variant="default", loss=None, data_fraction=1.0, seed=0,
        spec={"i": i}, status="ok", metrics=metrics))
    print(i, flush=True)
    i += 1
"""


def test_kill_9_while_writing_leaves_a_valid_store(tmp_path):
    db = tmp_path / "r.sqlite"
    for attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
        )
        proc.stdout.readline()  # at least one write committed
        time.sleep(0.05 + 0.07 * attempt)  # land somewhere inside a 20000-row transaction
        proc.kill()
        proc.wait()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with ResultsStore(db) as store:
            (t,) = store.trials()  # one row, never zero or two
            values = set(t.metrics.values())
            assert len(t.metrics) == 20000 and len(values) == 1  # all from one transaction
            assert t.spec["i"] == next(iter(values))


def _limited(limit_bytes: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


FILL = """
import sys
from benchsel.errors import BenchselError
from benchsel.store import ResultsStore, TrialRecord
store = ResultsStore(sys.argv[1])
try:
    for i in range(10000):
        store.save_trial(TrialRecord(hash=f"t{i}", suite_name="s", arch_id="a", family="yolo",
            task="detection", variant="default", loss=None, data_fraction=1.0, seed=0,
            spec={}, status="ok", metrics={f"m{k}": 1.0 for k in range(500)}))
except BenchselError as exc:
    print("CLEAN:", exc)
    print("SAVED:", i)
"""


def test_full_disk_while_writing_results(tmp_path):
    db = tmp_path / "r.sqlite"
    result = subprocess.run(
        [sys.executable, "-c", FILL, str(db)],
        capture_output=True,
        text=True,
        preexec_fn=_limited(2_000_000),
        timeout=300,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "CLEAN: cannot write results to" in result.stdout
    saved = int(result.stdout.split("SAVED:")[1])
    with ResultsStore(db) as store:
        assert store.integrity_ok()
        assert len(store.trials()) == saved  # every committed trial is intact


def test_full_disk_while_writing_the_report(synthetic_store, tmp_path, benchsel):
    report = tmp_path / "report.html"
    report.write_text("previous report")
    result = benchsel(
        "report", str(synthetic_store), "-o", str(report), preexec_fn=_limited(1_000_000)
    )
    assert result.code == 1, result.output
    assert result.stderr.startswith("error: ") and "cannot write the report" in result.stderr
    assert report.read_text() == "previous report"
    assert not list(tmp_path.glob("*.tmp"))


def test_two_runs_on_one_store(tmp_path, benchsel):
    path = _suite(tmp_path, [UNET], iterations=60)
    first = subprocess.Popen(
        [str(benchsel.script), "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for(lambda: list((tmp_path / "out" / "trials").glob("*/spec.json")))
    second = benchsel("run", str(path), timeout=900)
    assert second.code == 1, second.output
    assert "in use by another benchsel run" in second.stderr
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert "Traceback" not in out, out
    assert [t.status for t in _trials(tmp_path)] == ["ok"]


def test_nothing_is_written_outside_the_output_folder_and_the_report(tmp_path, benchsel):
    data = tmp_path / "data"
    from benchsel.data.sample import generate_sample

    generate_sample(data, images=12, size=64)
    suite = {
        "name": "t",
        "task": "semantic",
        "dataset": {"path": "data", "format": "mask_folder"},
        "candidates": [UNET],
        "output": "out",
        **FAST,
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))

    def outside() -> dict[str, float]:
        return {
            str(p): p.stat().st_mtime
            for p in tmp_path.rglob("*")
            if p.relative_to(tmp_path).parts[0] not in ("out", "reports")
        }

    before = outside()
    result = benchsel("run", str(tmp_path / "suite.yaml"), timeout=900)
    assert result.code == 0, result.output
    assert outside() == before
    assert (tmp_path / "out" / "t.sqlite").is_file()
    # The report goes to the suite's report path: reports/<name>.html beside the suite.
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["t.html"]
    assert f"Report: {tmp_path / 'reports' / 't.html'}" in result.stdout


# Loaded at interpreter start (PYTHONPATH): mmcv as installed without its compiled ops.
WITHOUT_MMCV_OPS = """
import sys


class _NoCompiledOps:
    def find_spec(self, name, path=None, target=None):
        if name == "mmcv._ext":
            raise ModuleNotFoundError("No module named 'mmcv._ext'", name=name)
        return None


sys.meta_path.insert(0, _NoCompiledOps())
"""


def test_doctor_reports_and_exits_nonzero_when_broken(tmp_path, benchsel):
    ok = benchsel("doctor")
    assert ok.code == 0, ok.output
    assert "ok   mmcv compiled ops" in ok.stdout and "installation OK" in ok.stdout

    (tmp_path / "sitecustomize.py").write_text(WITHOUT_MMCV_OPS)
    broken = benchsel("doctor", env={"PYTHONPATH": str(tmp_path)})
    assert broken.code == 1, broken.output
    assert "FAIL mmcv compiled ops" in broken.stdout, broken.output
    assert "No module named 'mmcv._ext'" in broken.stdout
    assert "\n     fix: " in broken.stdout and "problem(s) to fix" in broken.stdout


def test_hostile_checkpoint_in_a_suite_never_runs(tmp_path, benchsel):
    import torch

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    ckpt = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": Payload()}, ckpt)
    path = _suite(tmp_path, [{**RTMDET, "checkpoint": str(ckpt)}])
    result = benchsel("run", str(path), timeout=900)
    assert result.code == 2, result.output
    (trial,) = _trials(tmp_path)
    assert trial.status == "failed" and "refused to load" in trial.error
    assert not marker.exists()
    assert json.loads(json.dumps(trial.spec))["checkpoint"] == str(ckpt)
