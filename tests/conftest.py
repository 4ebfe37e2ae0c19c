"""Shared fixtures: the installed console script, the real data beside the project, small images,
a synthetic results store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BENCHSEL = Path(sys.executable).parent / "benchsel"


# ---------------------------------------------------------------- the console script


class CliResult(NamedTuple):
    """Exit code, stdout and stderr of one ``benchsel`` command."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together (benchsel's ``error: ...`` goes to stderr)."""
        return self.stdout + self.stderr

    def report(self) -> Any:
        """The ``--json`` report on stdout."""
        return json.loads(self.stdout)


class Benchsel:
    """Runs the installed console script; ``script`` is its path, for tests that need a Popen."""

    def __init__(self, script: Path) -> None:
        self.script = script

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300, **kwargs: Any
    ) -> CliResult:
        """``benchsel *args``; ``env`` adds variables, ``kwargs`` go to ``subprocess.run``."""
        # rich wraps long lines at 80 columns and colours them; a user's terminal would be wider.
        full_env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", **(env or {})}
        proc = subprocess.run(
            [str(self.script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            **kwargs,
        )
        for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if "Traceback" in text:
                pytest.fail(f"`benchsel {' '.join(args)}` printed a traceback on {name}:\n{text}")
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def benchsel() -> Benchsel:
    """``benchsel(*args, env=..., cwd=...)`` runs the installed console script in a subprocess.

    A traceback on stdout or stderr fails the test: an in-process runner catches exceptions, so
    only a real process can show one. Usage errors (bad option values) exit 2 with click's message
    on stderr; benchsel's own user errors exit 1 with ``error: ...`` on stderr.
    """
    if not BENCHSEL.is_file():
        pytest.fail(f"console script {BENCHSEL} is not installed (run `make install`)")
    return Benchsel(BENCHSEL)


# ---------------------------------------------------------------- real data beside the project


def shared_data(name: str) -> Path:
    """Path of a real data set in ../shared/data, or skip the test when it is absent.

    Tests take the per-data-set fixtures below; this function stays importable only for
    tests/evaluation/test_bootstrap.py until it moves to them.
    """
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it only exists beside the project checkout)")
    return path


@pytest.fixture
def coco_val2014_100() -> Path:
    """pycocotools' test fixture: 100 val2014 images' GT and fake bbox/segm results."""
    return shared_data("coco_val2014_100")


@pytest.fixture
def panoptic_sample() -> Path:
    """panopticapi's two-image example: panoptic_examples.json and its PNG folder."""
    return shared_data("panoptic_sample")


@pytest.fixture
def coco_tiny() -> Path:
    """A 80 + 80 image COCO subset with train and val annotation files."""
    return shared_data("coco_tiny")


@pytest.fixture
def camvid_val() -> Path:
    """CamVid's 101 validation images and label maps (11 classes, void = 11)."""
    return shared_data("camvid_val")


# ---------------------------------------------------------------- generated inputs


@pytest.fixture
def rgb_image() -> np.ndarray:
    """A small seeded RGB image with a few bright rectangles."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, size=(96, 128, 3), dtype=np.uint8)
    img[20:60, 30:80] = (220, 40, 40)
    img[50:90, 90:120] = (40, 200, 60)
    return img


HOSTILE = "<script>alert(1)</script>"
HOSTILE_ERROR = '<img src=x onerror="alert(2)">'


@pytest.fixture
def synthetic_store(tmp_path: Path) -> Path:
    """``tmp_path/r.sqlite``: run "hostile" with an ok rtmdet-tiny and a failed dino trial.

    User strings are hostile HTML: the class ``<script>alert(1)</script>`` (in the prepared data
    and a per-class metric) and the failed trial's error ``RuntimeError: <img src=x
    onerror="alert(2)">``.
    """
    from benchsel.store import ResultsStore, TrialRecord

    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.start_run(
            "hostile",
            {"constraints": {"min_fps": 30}},
            {"torch": "x"},
            {
                "prepared": {
                    "classes": [HOSTILE, "b"],
                    "num_things": 2,
                    "format": "coco",
                    "train_images": 8,
                    "val_images": 2,
                }
            },
        )
        store.save_trial(
            TrialRecord(
                hash="a",
                suite_name="hostile",
                arch_id="rtmdet-tiny",
                family="yolo",
                task="detection",
                variant="default",
                loss=None,
                data_fraction=1.0,
                seed=0,
                spec={},
                status="ok",
                conditions={"device": "cpu"},
                curves={"train_loss": [{"iter": 1.0, "loss": 2.0}, {"iter": 2.0, "loss": 1.5}]},
                metrics={
                    "accuracy": 0.4,
                    "bbox_AP": 0.4,
                    f"bbox_AP/{HOSTILE}": 0.3,
                    "bbox_AP/b": 0.5,
                    "fps": 40.0,
                    "latency_e2e_p50_ms": 25.0,
                    "gflops": 8.0,
                    "label_cost_usd": 10.0,
                    "labelled_images": 8.0,
                },
            )
        )
        store.save_trial(
            TrialRecord(
                hash="b",
                suite_name="hostile",
                arch_id="dino-4scale-r50",
                family="dino",
                task="detection",
                variant="default",
                loss=None,
                data_fraction=1.0,
                seed=0,
                spec={},
                status="failed",
                error=f"RuntimeError: {HOSTILE_ERROR}",
            )
        )
    return path


@pytest.fixture
def task_classes():
    """The 3-class ClassSpec tests build models for, by task (things, stuff where needed)."""
    from benchsel.adapters import ClassSpec

    def make(task: str) -> ClassSpec:
        if task == "panoptic":
            return ClassSpec.panoptic(["circle", "square"], ["grass"])
        if task == "semantic":
            return ClassSpec.semantic(["background", "circle", "square"])
        return ClassSpec.things(["circle", "square", "triangle"])

    return make
