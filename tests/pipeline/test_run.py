"""`benchsel run` end to end on CPU at tiny sizes: store, resume, isolation, Ray."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from benchsel.pipeline.executors import LocalExecutor, SubprocessExecutor
from benchsel.pipeline.run import run_suite
from benchsel.store import ResultsStore
from benchsel.suite import load_suite

pytestmark = pytest.mark.slow

FAST = {
    "training": {"iterations": 3, "batch_size": 2},
    "measurement": {
        "batch_sizes": [1],
        "device": "cpu",
        "min_iters": 2,
        "min_seconds": 0,
        "warmup_iters": 1,
    },
}


def _suite(tmp_path: Path, candidates: list[dict], **extra) -> Path:
    data = {
        "name": "t",
        "dataset": {"sample": {"images": 16, "size": 64, "seed": 0}},
        "candidates": candidates,
        "output": "out",
        **FAST,
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


RTMDET = {"id": "rtmdet-tiny", "task": "detection", "input_size": [64, 64]}
UNET = {"id": "unet-s5-d16", "task": "semantic", "variants": ["light"], "input_size": [64, 64]}


def _stored(tmp_path: Path):
    with ResultsStore(tmp_path / "out" / "t.sqlite") as store:
        assert store.integrity_ok()
        return store.trials()


def test_two_architectures_end_to_end(tmp_path):
    suite = load_suite(_suite(tmp_path, [RTMDET, UNET]))
    summary = run_suite(suite, executor=SubprocessExecutor(600))
    assert (summary.total, summary.ran, summary.failed) == (2, 2, [])
    trials = {t.arch_id: t for t in _stored(tmp_path)}
    assert set(trials) == {"rtmdet-tiny", "unet-s5-d16"}
    det, seg = trials["rtmdet-tiny"], trials["unet-s5-d16"]
    assert det.status == seg.status == "ok"
    for key in (
        "bbox_AP",
        "bbox_AP50",
        "accuracy",
        "params_m",
        "gflops",
        "latency_e2e_p50_ms",
        "latency_forward_p50_ms",
        "fps",
        "train_images_per_s",
        "train_full_schedule_cpu_hours",
        "train_cpu_mem_increase_mib",
        "infer_cpu_mem_increase_mib",
        "accuracy_ci_low",
        "accuracy_ci_high",
        "bbox_AP_ci_low",
        "label_cost_usd",
        "labelled_images",
    ):
        assert key in det.metrics, key
    # A CPU trial never stores a number under a name with both "gpu" and "hours".
    assert not [k for t in (det, seg) for k in t.metrics if "gpu" in k and "hours" in k]
    assert "train_full_schedule_usd" not in det.metrics  # GPU-hour prices apply to GPUs
    assert (
        det.metrics["accuracy_ci_low"] <= det.metrics["accuracy"] <= det.metrics["accuracy_ci_high"]
    )
    assert set(det.eval_states) == {"bbox"} and set(seg.eval_states) == {"semantic"}
    assert seg.conditions["speed"][0]["images"].startswith("3 validation images")
    assert det.metrics["labelled_images"] == 13  # 16 images, 20% held out for val
    assert 0 <= seg.metrics["mIoU"] <= 1 and "IoU/sky" in seg.metrics
    assert det.conditions["device"] == "cpu" and det.conditions["speed"][0]["batch"] == 1
    assert det.conditions["training"]["iterations"] == 3
    assert len(det.curves["train_loss"]) == 3
    assert Path(det.checkpoint_path).is_file() and Path(det.log_path).is_file()
    assert det.environment["torch"] == torch.__version__


def test_resume_after_kill_does_not_redo_or_duplicate(tmp_path):
    path = _suite(tmp_path, [RTMDET, UNET])
    cmd = [sys.executable, "-m", "benchsel", "run", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "out" / "t.sqlite"
    deadline = time.time() + 300
    while time.time() < deadline:
        if db.exists():
            try:
                rows = sqlite3.connect(db).execute("SELECT count(*) FROM trials").fetchone()[0]
            except sqlite3.OperationalError:
                rows = 0
            if rows >= 1:
                break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("first trial never finished")
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 the driver mid-run
    proc.wait()
    first = _stored(tmp_path)
    assert len(first) == 1
    done = first[0]

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 already stored" in rerun.stdout
    after = _stored(tmp_path)
    assert sorted(t.arch_id for t in after) == ["rtmdet-tiny", "unet-s5-d16"]
    again = next(t for t in after if t.hash == done.hash)
    assert again.finished == done.finished, "the finished trial was redone"


def test_failing_candidate_is_a_failed_row_and_the_suite_goes_on(tmp_path):
    bogus = tmp_path / "other-model.pth"
    torch.save({"state_dict": {"not.this.model": torch.zeros(3)}}, bogus)
    broken = {**RTMDET, "checkpoint": str(bogus)}
    suite = load_suite(_suite(tmp_path, [broken, UNET]))
    summary = run_suite(suite, executor=SubprocessExecutor(600))
    assert len(summary.failed) == 1
    trials = {t.arch_id: t for t in _stored(tmp_path)}
    assert trials["rtmdet-tiny"].status == "failed"
    assert "no tensor of the checkpoint matches" in trials["rtmdet-tiny"].error
    assert trials["unet-s5-d16"].status == "ok"


def test_timeout_is_recorded(tmp_path):
    suite = load_suite(_suite(tmp_path, [RTMDET]))
    summary = run_suite(suite, executor=SubprocessExecutor(timeout_s=2))
    assert summary.failed
    (trial,) = _stored(tmp_path)
    assert trial.status == "timeout" and "exceeded 2 s" in trial.error


def test_cli_exit_code_says_whether_a_trial_failed(tmp_path):
    bogus = tmp_path / "junk.pth"
    bogus.write_bytes(b"junk")
    path = _suite(tmp_path, [{**RTMDET, "checkpoint": str(bogus)}])
    result = subprocess.run(
        [sys.executable, "-m", "benchsel", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert "failed" in result.stdout and "Traceback" not in result.stderr


def test_local_executor_and_fresh(tmp_path):
    suite = load_suite(_suite(tmp_path, [UNET]))
    run_suite(suite, executor=LocalExecutor())
    (first,) = _stored(tmp_path)
    skipped = run_suite(suite, executor=LocalExecutor())
    assert (skipped.skipped, skipped.ran) == (1, 0)
    redo = run_suite(suite, executor=LocalExecutor(), fresh=True)
    assert redo.ran == 1
    (again,) = _stored(tmp_path)
    assert again.hash == first.hash and again.finished > first.finished


def test_ray_executor_on_a_local_instance(tmp_path):
    ray = pytest.importorskip("ray")
    from benchsel.pipeline.executors import RayExecutor

    suite = load_suite(_suite(tmp_path, [RTMDET, UNET]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_suite(suite, executor=RayExecutor(600, address=None))
    finally:
        ray.shutdown()
    assert summary.ran == 2 and not summary.failed
    assert {t.status for t in _stored(tmp_path)} == {"ok"}


def _local_run(tmp_path: Path, suite_data: dict):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite_data))
    suite = load_suite(path)
    summary = run_suite(suite, executor=LocalExecutor())
    return summary, _stored(tmp_path)


def test_budgets_epochs_zero_and_wall_clock_cap(tmp_path):
    base = {
        "name": "t",
        "dataset": {"sample": {"images": 10, "size": 64, "seed": 0}},
        "output": "out",
        "measurement": FAST["measurement"],
    }
    cands = [
        {"id": "unet-s5-d16", "task": "semantic", "variants": ["light"], "input_size": [64, 64]}
    ]
    _, (epochs,) = _local_run(
        tmp_path, {**base, "candidates": cands, "training": {"epochs": 2, "batch_size": 4}}
    )
    assert epochs.metrics["train_iters"] == 2 * 2  # 8 train images / batch 4, twice
    (tmp_path / "out" / "t.sqlite").unlink()
    _, (zero,) = _local_run(tmp_path, {**base, "candidates": cands, "training": {"iterations": 0}})
    assert zero.status == "ok" and "train_iters" not in zero.metrics
    assert "training" not in zero.conditions and "mIoU" in zero.metrics
    (tmp_path / "out" / "t.sqlite").unlink()
    _, (capped,) = _local_run(
        tmp_path,
        {
            **base,
            "candidates": cands,
            "training": {"iterations": 10_000, "batch_size": 2, "max_minutes": 0.002},
        },
    )
    assert capped.conditions["training"]["stopped_by_wall_clock"] is True
    assert capped.metrics["train_iters"] < 10_000


@pytest.mark.parametrize("fmt", ["coco", "voc"])
def test_detection_on_coco_and_voc_data(tmp_path, fmt):
    from benchsel.data.sample import generate_sample

    generate_sample(tmp_path / "data", images=12, size=64, seed=0)
    summary, (trial,) = _local_run(
        tmp_path,
        {
            "name": "t",
            "task": "detection",
            "dataset": {"path": "data", "format": fmt, "split": {"val_fraction": 0.25}},
            "candidates": [RTMDET],
            "output": "out",
            **FAST,
        },
    )
    assert not summary.failed and trial.status == "ok"
    assert "bbox_AP" in trial.metrics and trial.metrics["labelled_images"] == 9


def test_a_yolo_folder_runs_end_to_end_and_scores_its_test_split(tmp_path, benchsel):
    """Only `dataset.path`: the format, the classes and the train / val / test splits come from
    the Ultralytics layout; the test split's score is in `results --json`."""
    from benchsel.data.loader import load_data
    from benchsel.data.sample import generate_sample
    from tests.data.exports import write_yolo

    generate_sample(tmp_path / "sample", images=16, size=64, seed=0)
    coco = load_data(tmp_path / "sample", "coco").splits["all"]
    write_yolo(coco, tmp_path / "yolo", "box")
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "task": "detection",
                "dataset": {"path": "yolo"},
                "candidates": [RTMDET],
                "output": "out",
                **FAST,
            }
        )
    )
    run = benchsel("run", str(path), timeout=900)
    assert run.code == 0, run.output
    (row,) = benchsel("results", str(tmp_path / "out" / "t.sqlite"), "--json").report()
    assert row["name"] == "rtmdet-tiny" and row["status"] == "ok"
    assert row["labelled_images"] == 8  # data.yaml's train split: half of the 16 images
    assert row["test_accuracy"] is not None and row["test_bbox_AP"] == row["test_accuracy"]
    assert row["test_accuracy_ci_low"] <= row["test_accuracy"] <= row["test_accuracy_ci_high"]
