"""Racing (``run --until-decided``): seeds go only where the verdict is undecided.

The trials are simulated (an executor that writes real per-image semantic evaluation states
with known error rates instead of training), so the test runs the real plan, store, verdict
and race loop in seconds. A real race on trained detectors is in the README's verdict section.
"""

from __future__ import annotations

import base64
import time
import zlib
from pathlib import Path

import numpy as np
import yaml

from benchsel.evaluation.semantic import SemanticEvaluator
from benchsel.pipeline.executors import Executor
from benchsel.pipeline.race import race_suite
from benchsel.pipeline.trial import TrialOutcome
from benchsel.store import ResultsStore
from benchsel.suite import load_suite

CLASSES = 3
IMAGES = 40
ERROR = {"a": 0.20, "b": 0.20, "c": 0.45}  # a and b are equal; c is clearly worse
SEED_SPREAD = 0.03


class SimulatedExecutor(Executor):
    """Each trial's outcome is a semantic evaluation of predictions with the option's error
    rate, moved by a per-seed effect: training noise without training."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.gt = []
        for _ in range(IMAGES):
            gt = np.zeros((16, 16), dtype=np.int64)
            gt[rng.integers(0, 8) :, :] = 1
            gt[:, rng.integers(8, 16) :] = 2
            self.gt.append(gt)
        self.ran: list[tuple[str, int]] = []

    def outcome(self, name: str, seed: int) -> TrialOutcome:
        rng = np.random.default_rng(zlib.crc32(f"{name}/{seed}".encode()))
        error = float(np.clip(ERROR[name] + rng.normal(0, SEED_SPREAD), 0, 1))
        ev = SemanticEvaluator([f"c{i}" for i in range(CLASSES)])
        for i, gt in enumerate(self.gt):
            pred = gt.copy()
            flip = rng.random(gt.shape) < error
            pred[flip] = (gt[flip] + 1) % CLASSES
            ev.process(gt, pred, image_id=i)
        metrics = ev.evaluate()
        assert ev.state is not None
        return TrialOutcome(
            status="ok",
            metrics={
                "accuracy": metrics["mIoU"],
                "mIoU": metrics["mIoU"],
                "train_iters": 10.0,
                "latency_e2e_p50_ms": 10.0,
                "labelled_images": 10.0,
            },
            conditions={"device": "cpu"},
            eval_states={"semantic": base64.b64encode(ev.state.to_bytes()).decode()},
        )

    def run(self, specs, layout, on_done, on_start, on_progress) -> None:
        for spec in specs:
            on_start(spec)
            self.ran.append((spec.option, spec.seed))
            on_done(spec, self.outcome(spec.option, spec.seed), time.time())


def _suite(tmp_path: Path, max_seeds: int = 4) -> Path:
    data = {
        "name": "race",
        "task": "semantic",
        "dataset": {"sample": {"images": 24, "size": 64}},
        "candidates": [
            {"id": "unet-s5-d16", "name": name, "variants": ["light"]} for name in ERROR
        ],
        "training": {"iterations": 10, "seeds": {"min": 1, "max": max_seeds}},
        "output": "out",
    }
    path = tmp_path / "race.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_seeds_go_only_to_the_undecided(tmp_path):
    suite = load_suite(_suite(tmp_path))
    executor = SimulatedExecutor()
    lines: list[str] = []
    summary = race_suite(
        suite, executor=executor, max_seeds=suite.training.max_seeds or 4, on_round=lines.append
    )
    seeds = {n: sum(1 for name, _ in executor.ran if name == n) for n in ERROR}
    assert seeds["c"] == 1  # clearly worse after one run: never raced again
    assert seeds["a"] > 1 and seeds["b"] > 1
    assert summary.ran == sum(seeds.values())
    with ResultsStore(summary.store_path) as store:
        run = store.latest_run()
        assert run is not None
        race = run.dataset["race"]
    rounds = race["rounds"]
    assert rounds[0]["seeds"] == {"a": 1, "b": 1, "c": 1}
    assert all("c" not in r["added"] for r in rounds)
    assert rounds[-1]["added"] == {} and len(lines) == len(rounds)
    assert "race round 1" in lines[0]
    print("\n".join(lines))
    # Stopped because it was decided, or because a and b reached the cap, never beyond it.
    assert rounds[-1]["verdicts"]["semantic"] in ("equivalent", "clear") or max(seeds.values()) == 4
    assert max(seeds.values()) <= 4


def test_a_resumed_race_reruns_nothing(tmp_path):
    path = _suite(tmp_path, max_seeds=3)
    first = SimulatedExecutor()
    race_suite(load_suite(path), executor=first, max_seeds=3)
    again = SimulatedExecutor()
    summary = race_suite(load_suite(path), executor=again, max_seeds=3)
    assert again.ran == [] and summary.ran == 0


def test_the_report_shows_the_race_and_the_evidence(tmp_path):
    from benchsel.report import build_report

    suite = load_suite(_suite(tmp_path, max_seeds=2))
    summary = race_suite(suite, executor=SimulatedExecutor(), max_seeds=2)
    with ResultsStore(summary.store_path) as store:
        page = build_report(store)
    assert "Racing: seeds spent where the verdict was undecided" in page
    assert 'id="evidence-semantic"' in page and "Evidence: intervals cover" in page
    assert "undecided with" in page and "measure training noise on the leader" in page
