"""Executors: how trials run. Each hands every outcome to ``on_done`` as soon as it finishes.

- ``subprocess`` (default): each trial in its own process (``benchsel.pipeline.worker``) with a
  timeout; a crash, an out-of-memory kill or a timeout becomes a failed outcome.
- ``local``: in this process, no isolation or timeout; for debugging.
- ``ray``: each trial a Ray task running the same isolated subprocess on a cluster node; the
  driver still writes the store.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.pipeline.layout import RunLayout
from benchsel.pipeline.plan import TrialSpec
from benchsel.pipeline.prepare import PreparedData
from benchsel.pipeline.trial import TrialOutcome, run_trial

EXECUTORS = ("subprocess", "local", "ray")
LOG_TAIL_CHARS = 4000

ProgressFn = Callable[[TrialSpec, dict[str, Any]], None]
DoneFn = Callable[[TrialSpec, TrialOutcome, float], None]
StartFn = Callable[[TrialSpec], None]


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - chars))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def trial_environment(
    spec: TrialSpec, parent: Mapping[str, str], parent_pid: int
) -> dict[str, str]:
    """The environment of a trial's process. A CPU trial sees no GPU: mmengine picks its device
    at import, and would otherwise train on the GPU while the conditions say ``cpu``."""
    env = {**parent, "PYTHONUNBUFFERED": "1", "BENCHSEL_PARENT_PID": str(parent_pid)}
    if spec.measurement.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def gpus_for(spec: TrialSpec, cluster_gpus: float) -> int:
    """GPUs a Ray task asks for: one whenever the trial will use a GPU (``cuda``, or ``auto``
    on a cluster that has GPUs), so no two trials ever train or time on the same GPU."""
    device = spec.measurement.device
    return 1 if device == "cuda" or (device == "auto" and cluster_gpus >= 1) else 0


def run_in_subprocess(
    spec: TrialSpec,
    layout: RunLayout,
    timeout_s: float,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrialOutcome:
    """Run a trial in a child process; map crashes and timeouts to outcomes."""
    files = layout.trial(spec.hash)
    files.dir.mkdir(parents=True, exist_ok=True)
    for stale in (files.outcome, files.progress):
        stale.unlink(missing_ok=True)
    files.spec.write_text(spec.model_dump_json(indent=1))
    log_path = files.log
    start = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchsel.pipeline.worker", str(layout.output), spec.hash],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole on timeout
            env=trial_environment(spec, os.environ, os.getpid()),
        )
        try:
            while proc.poll() is None:
                if time.perf_counter() - start > timeout_s:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return TrialOutcome(
                        status="timeout",
                        error=f"trial exceeded {timeout_s:g} s and was killed\n"
                        + log_tail(log_path),
                        wall_s=time.perf_counter() - start,
                    )
                if on_progress is not None:
                    _report_progress(files.progress, on_progress)
                time.sleep(0.5)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if files.outcome.is_file():
        return TrialOutcome.from_json(files.outcome.read_text())
    code = proc.returncode
    why = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
    if code == -signal.SIGKILL:
        why += " (out of memory, or killed)"
    return TrialOutcome(
        status="failed",
        error=f"trial process {why} without a result\n{log_tail(log_path)}",
        wall_s=time.perf_counter() - start,
    )


def _report_progress(path: Path, on_progress: Callable[[dict[str, Any]], None]) -> None:
    with contextlib.suppress(OSError, ValueError):
        on_progress(json.loads(path.read_text()))


class Executor:
    """Runs trials and hands each outcome to ``on_done`` as soon as it finishes."""

    def run(
        self,
        specs: list[TrialSpec],
        layout: RunLayout,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        raise NotImplementedError


class SubprocessExecutor(Executor):
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s

    def run(
        self,
        specs: list[TrialSpec],
        layout: RunLayout,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        for spec in specs:
            on_start(spec)
            started = time.time()
            outcome = run_in_subprocess(
                spec, layout, self.timeout_s, functools.partial(on_progress, spec)
            )
            on_done(spec, outcome, started)


class LocalExecutor(Executor):
    """In this process: no isolation, no timeout; for debugging."""

    def run(
        self,
        specs: list[TrialSpec],
        layout: RunLayout,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        prepared = PreparedData.load(layout.prepared)
        for spec in specs:
            on_start(spec)
            started = time.time()
            outcome = run_trial(spec, prepared, layout.trial(spec.hash))
            on_done(spec, outcome, started)


class RayExecutor(Executor):
    """Each trial is a Ray task asking for the CPUs / GPU it needs; results come back here."""

    def __init__(self, timeout_s: float, address: str | None, cpus_per_trial: int = 1) -> None:
        self.timeout_s, self.address, self.cpus = timeout_s, address, cpus_per_trial

    def run(
        self,
        specs: list[TrialSpec],
        layout: RunLayout,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise BenchselError("the Ray executor needs Ray: pip install 'benchsel[ray]'") from None
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                ignore_reinit_error=True,
                include_dashboard=False,
                log_to_driver=False,
            )
        remote = ray.remote(_ray_trial)
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        pending = {}
        for spec in specs:
            gpus = gpus_for(spec, cluster_gpus)
            ref = remote.options(num_cpus=self.cpus, num_gpus=gpus).remote(
                spec.model_dump_json(), str(layout.output), self.timeout_s
            )
            pending[ref] = (spec, time.time())
            on_start(spec)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec, started = pending.pop(ref)
                try:
                    outcome = TrialOutcome.from_json(ray.get(ref))
                except Exception as exc:
                    outcome = TrialOutcome(status="failed", error=f"Ray task failed: {exc}")
                on_done(spec, outcome, started)


def _ray_trial(spec_json: str, output: str, timeout_s: float) -> str:
    """Runs on a Ray worker: the same isolated subprocess as the default executor."""
    spec = TrialSpec.model_validate_json(spec_json)
    return run_in_subprocess(spec, RunLayout(Path(output)), timeout_s).to_json()


def make_executor(name: str, timeout_s: float, address: str | None = None) -> Executor:
    if name == "subprocess":
        return SubprocessExecutor(timeout_s)
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(timeout_s, address)
    raise BenchselError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
