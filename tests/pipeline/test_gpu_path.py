"""The GPU path's engine side, checked without a GPU: which device each trial gets, what Ray
asks for, when training memory is read, AMP defaults, and fp16 failures kept apart."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch

from benchsel.catalog import load_catalog
from benchsel.pipeline.executors import gpus_for, trial_environment
from benchsel.pipeline.plan import expand_trials
from benchsel.profiling import latency
from benchsel.profiling.latency import SpeedResult, SpeedSettings, TimingStats
from benchsel.suite import parse_suite


def _spec(device: str, amp: bool | None = None):
    training = {"iterations": 1} | ({} if amp is None else {"amp": amp})
    suite = parse_suite(
        {
            "name": "g",
            "dataset": {"sample": {"images": 8}},
            "candidates": [{"id": "dino-4scale-r50"}],
            "measurement": {"device": device},
            "training": training,
        }
    )
    return expand_trials(suite)[0]


def test_cpu_trials_see_no_gpu():
    parent = {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0"}
    assert trial_environment(_spec("cpu"), parent, 1)["CUDA_VISIBLE_DEVICES"] == ""
    assert trial_environment(_spec("cuda"), parent, 1)["CUDA_VISIBLE_DEVICES"] == "0"
    env = trial_environment(_spec("auto"), parent, 42)
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["BENCHSEL_PARENT_PID"] == "42"


@pytest.mark.parametrize(
    ("device", "cluster_gpus", "asked"),
    [("cuda", 0, 1), ("cuda", 4, 1), ("auto", 2, 1), ("auto", 0, 0), ("cpu", 8, 0)],
)
def test_ray_asks_for_a_gpu_whenever_the_trial_will_use_one(device, cluster_gpus, asked):
    assert gpus_for(_spec(device), cluster_gpus) == asked


def test_memory_tracker_reads_before_the_logger_resets(monkeypatch):
    from mmengine.hooks import LoggerHook
    from mmengine.registry import HOOKS  # noqa: F401 - hooks registered
    from mmengine.runner.priority import get_priority

    from benchsel.adapters.train.hooks import CudaMemoryTracker

    tracker = CudaMemoryTracker("cuda:0")
    # mmengine runs hooks in priority order, lower value first: the tracker before the logger.
    assert get_priority(tracker.priority) < get_priority(LoggerHook.priority)
    # Peaks reset between log intervals: the tracker keeps the running maximum.
    peaks = iter([(5 * 2**30, 6 * 2**30), (1 * 2**30, 2 * 2**30), (3 * 2**30, 4 * 2**30)])
    current: dict[str, int] = {}

    def step() -> None:
        current["alloc"], current["reserved"] = next(peaks)

    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d=None: current["alloc"])
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda d=None: current["reserved"])
    for _ in range(3):
        step()
        tracker.after_train_iter(runner=None, batch_idx=0)
    assert tracker.alloc_bytes == 5 * 2**30 and tracker.reserved_bytes == 6 * 2**30


def test_fp16_focal_loss_cost_overflows_so_dino_and_mask2former_train_in_fp32():
    """The upstream failure, reproduced: fp16 turns large logits into -inf costs, which the
    Hungarian matcher (SciPy) refuses; the catalog keeps AMP off for those families."""
    from mmdet.models.task_modules.assigners.match_cost import FocalLossCost
    from mmengine.structures import InstanceData

    cost = FocalLossCost(weight=2.0)
    logits = torch.tensor([[9.0, -9.0, 12.0], [0.5, 10.0, -3.0]])
    gt = InstanceData(labels=torch.tensor([0, 2]))
    fp32 = cost(InstanceData(scores=logits), gt)
    fp16 = cost(InstanceData(scores=logits.half()), gt)
    assert torch.isfinite(fp32).all() and not torch.isfinite(fp16).all()
    with pytest.raises(ValueError, match=r"infeasible|invalid"):
        scipy.optimize.linear_sum_assignment(fp16.float().numpy())
    off = {a.family for a in load_catalog().architectures if not a.amp_default}
    assert off == {"dino", "mask2former"}
    assert all(a.amp_note for a in load_catalog().architectures if not a.amp_default)
    assert _spec("cuda").training.amp is None  # the family default applies
    assert _spec("cuda", amp=True).training.amp is True  # unless the suite forces it


def test_fp16_failure_is_recorded_next_to_fp32(monkeypatch):
    def fake_measure_one(model, settings, sources, arrays, batch, precision, timer, base):
        if precision == "fp16":
            raise RuntimeError("no half kernel")
        stats = TimingStats.from_samples([10.0] * 3, batch)
        phases = {p: stats for p in latency.PHASES}
        return SpeedResult(batch, precision, phases, 0.0, {"gpu_alloc_peak_gib": 1.0})

    class Model:
        device = "cuda:0"
        input_size = (8, 8)

    monkeypatch.setattr(latency, "_measure_one", fake_measure_one)
    settings = SpeedSettings(batch_sizes=(1,), precisions=("fp32", "fp16"))
    images = [np.zeros((8, 8, 3), dtype=np.uint8)]
    results = latency.measure_speed(Model(), settings, images, timer=lambda fn: 1.0)
    assert [r.precision for r in results] == ["fp32", "fp16"]
    assert results[1].error == "RuntimeError: no half kernel"
    metrics = latency.speed_metrics(results)
    assert metrics["latency_e2e_p50_ms"] == 10.0
    assert not any(k.endswith("_fp16") for k in metrics)
    assert not math.isnan(metrics["fps"])


def test_cudnn_benchmark_is_restored_after_timing():
    before = torch.backends.cudnn.benchmark
    with latency._cudnn_benchmark(not before, on_cuda=True):
        assert torch.backends.cudnn.benchmark is (not before)
    assert torch.backends.cudnn.benchmark is before
