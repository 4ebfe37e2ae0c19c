"""The latency harness: logic with fake clocks, plus one real CPU measurement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from benchsel.profiling.latency import (
    CudaEventTimer,
    PerfCounterTimer,
    SpeedSettings,
    TimingStats,
    measure_speed,
    speed_metrics,
    time_loop,
)


class ScriptedTimer:
    """Returns the next scripted duration for each timed call (and still calls fn)."""

    def __init__(self, durations_ms):
        self.durations = iter(durations_ms)
        self.calls = 0

    def __call__(self, fn):
        fn()
        self.calls += 1
        return next(self.durations)


def test_warmup_is_untimed_and_min_iters_bounds_the_loop():
    calls = []
    timer = ScriptedTimer(itertools.repeat(500.0))
    samples = time_loop(lambda: calls.append(1), timer, warmup=3, min_iters=4, min_seconds=0.1)
    assert len(samples) == 4 and timer.calls == 4
    assert len(calls) == 3 + 4


def test_min_seconds_extends_the_loop():
    timer = ScriptedTimer(itertools.repeat(10.0))
    samples = time_loop(lambda: None, timer, warmup=0, min_iters=2, min_seconds=0.095)
    assert len(samples) == 10  # 10 x 10 ms reaches 95 ms


def test_perf_counter_timer_uses_the_clock():
    ticks = iter([1.0, 1.25])
    assert PerfCounterTimer(clock=lambda: next(ticks))(lambda: None) == pytest.approx(250.0)


def test_cuda_event_timer_synchronises_and_reads_events():
    log = []

    class Event:
        def __init__(self, enable_timing):
            assert enable_timing
            self.t = None

        def record(self):
            log.append("record")
            self.t = len(log)

        def synchronize(self):
            log.append("event-sync")

        def elapsed_time(self, other):
            return 7.5 * (other.t - self.t)

    class Cuda:
        pass

    Cuda.Event = Event
    Cuda.synchronize = staticmethod(lambda device: log.append(f"sync:{device}"))

    class FakeTorch:
        cuda = Cuda

    ms = CudaEventTimer("cuda:0", torch_module=FakeTorch)(lambda: log.append("fn"))
    assert log == ["sync:cuda:0", "record", "fn", "record", "event-sync"]
    assert ms == 7.5 * 2


def test_timing_stats_percentiles():
    st = TimingStats.from_samples([10.0] * 98 + [50.0, 100.0], batch=4)
    assert st.p50_ms == 10.0 and st.iters == 100
    assert st.p99_ms == pytest.approx(np.percentile([10.0] * 98 + [50.0, 100.0], 99))
    assert st.mean_ms == pytest.approx(11.3)
    assert st.fps == pytest.approx(4000 / 11.3)


class FakeModel:
    """Phases take known scripted times; records what was called."""

    device = "cpu"
    input_size = (32, 48)

    def __init__(self):
        self.calls = {"preprocess": 0, "forward": 0, "postprocess": 0}

    def preprocess(self, images):
        self.calls["preprocess"] += 1
        assert all(im.shape == (32, 48, 3) for im in images)
        return {"n": len(images)}

    forward_description = "fake forward"

    def forward_network(self, batch):
        self.calls["forward"] += 1

    def postprocess(self, batch):
        self.calls["postprocess"] += 1
        return [None] * batch["n"]


class PhaseTimer:
    """Duration by what the call did: preprocess 1 ms, forward 10 ms, postprocess 3 ms."""

    def __init__(self, model):
        self.model = model

    def __call__(self, fn):
        before = dict(self.model.calls)
        fn()
        after = self.model.calls
        ms = 1.0 * (after["preprocess"] - before["preprocess"])
        ms += 10.0 * (after["forward"] - before["forward"])
        ms += 13.0 * (after["postprocess"] - before["postprocess"])  # forward + 3 ms of NMS
        return ms


def test_measure_speed_phases_and_metrics():
    model = FakeModel()
    settings = SpeedSettings(
        batch_sizes=(1, 4),
        precisions=("fp32", "fp16"),
        warmup_iters=1,
        min_iters=5,
        min_seconds=0.0,
    )
    results = measure_speed(model, settings, timer=PhaseTimer(model))
    assert [(r.batch, r.precision) for r in results] == [(1, "fp32"), (4, "fp32")]  # no fp16 on CPU
    one = results[0]
    assert one.phases["preprocess"].p50_ms == 1.0
    assert one.phases["forward"].p50_ms == 10.0
    assert one.phases["predict"].p50_ms == 13.0
    assert one.phases["e2e"].p50_ms == 14.0
    assert one.postprocess_p50_ms == 3.0
    assert one.conditions["batch"] == 1 and one.conditions["input_size"] == [32, 48]
    assert one.conditions["precision"] == "fp32" and one.conditions["timer"] == "time.perf_counter"
    assert "e2e" in one.conditions["what_is_timed"] and one.conditions["threads"] >= 1
    metrics = speed_metrics(results)
    assert metrics["latency_e2e_p50_ms"] == 14.0
    assert metrics["fps"] == pytest.approx(1000 / 14.0)
    assert metrics["throughput_fps_b4"] == pytest.approx(4000 / 14.0)
    assert metrics["latency_postprocess_p50_ms"] == 3.0
    # 5 samples: p90 and p99 would be the maximum of five; omitted and said so.
    assert math.isnan(metrics["latency_e2e_p99_ms"]) and math.isnan(metrics["latency_e2e_p90_ms"])
    assert "p99 omitted: 5 samples" in one.conditions["percentiles"]
    assert one.conditions["inconsistencies"] == []
    assert "cpu_mem_increase_mib" in one.memory


def test_tail_percentiles_need_enough_samples():
    assert math.isnan(TimingStats.from_samples([1.0] * 9, 1).p90_ms)
    assert TimingStats.from_samples([1.0] * 10, 1).p90_ms == 1.0
    assert math.isnan(TimingStats.from_samples([1.0] * 99, 1).p99_ms)


class SlowForwardTimer(PhaseTimer):
    """Forward slower than predict, as two-stage tensor mode is: must be reported, not hidden."""

    def __call__(self, fn):
        before = self.model.calls["forward"]
        ms = super().__call__(fn)
        return ms + (20.0 if self.model.calls["forward"] > before else 0.0)


def test_negative_derived_postprocess_is_reported_not_clamped():
    model = FakeModel()
    settings = SpeedSettings(batch_sizes=(1,), warmup_iters=0, min_iters=3, min_seconds=0.0)
    (result,) = measure_speed(model, settings, timer=SlowForwardTimer(model))
    assert result.postprocess_p50_ms == pytest.approx(13.0 - 30.0)
    assert "derived postprocess is negative" in result.conditions["inconsistencies"][0]
    assert speed_metrics([result])["latency_postprocess_p50_ms"] == pytest.approx(-17.0)


def test_batches_keep_sizes_apart_and_use_every_image():
    from benchsel.profiling.latency import _batches

    arrays = [np.zeros((h, 8, 3)) for h in (4, 4, 4, 6, 6)]
    batches = _batches(arrays, 2)
    assert sorted({i for b in batches for i in b}) == [0, 1, 2, 3, 4]
    for b in batches:
        assert len(b) == 2 and len({arrays[i].shape for i in b}) == 1


@pytest.mark.slow
def test_real_cpu_latency_of_a_small_model():
    from benchsel.adapters import ClassSpec, build_model

    model = build_model("rtmdet-tiny", ClassSpec.things(["a", "b"]), input_size=(128, 128))
    settings = SpeedSettings(batch_sizes=(1, 2), warmup_iters=2, min_iters=5, min_seconds=0.2)
    images = [np.random.default_rng(0).integers(0, 255, (100, 140, 3), dtype=np.uint8)]
    results = measure_speed(model, settings, images=images)
    metrics = speed_metrics(results)
    assert 0 < metrics["latency_forward_p50_ms"] < 10_000
    assert metrics["latency_e2e_p50_ms"] > 0 and metrics["throughput_fps_b2"] > 0
    assert results[0].phases["e2e"].iters >= 5
    assert math.isfinite(
        results[0].memory["cpu_mem_increase_mib"]
    )  # counted: tests/profiling/test_memory.py
    assert results[0].conditions["device"].startswith("CPU")
