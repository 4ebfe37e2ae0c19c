"""`benchsel run`: expand a suite into trials, run the missing ones, store every result.

Executors: ``subprocess`` (default; each trial in its own process with a timeout), ``local``
(in this process; for debugging) and ``ray`` (each trial a Ray task on a cluster; the driver
still writes the store). A trial that crashes, runs out of memory or times out becomes a failed
row and the suite goes on. Re-running skips trials already stored as ok (same hash).
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.prepare import PreparedData, prepare
from benchsel.store import ResultsStore, TrialRecord
from benchsel.suite import Suite
from benchsel.trial import TrialOutcome, run_trial
from benchsel.trials import TrialSpec, dataset_key, expand_trials

EXECUTORS = ("subprocess", "local", "ray")
LOG_TAIL_CHARS = 4000
DEFAULT_TRIAL_TIMEOUT_S = 6 * 3600

ProgressFn = Callable[[TrialSpec, dict[str, Any]], None]
DoneFn = Callable[[TrialSpec, TrialOutcome, float], None]
StartFn = Callable[[TrialSpec], None]


@dataclass
class RunSummary:
    store_path: Path
    total: int
    skipped: int
    ran: int
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    prepare_s: float = 0.0


def trial_dir(output: Path, spec: TrialSpec) -> Path:
    return output / "trials" / spec.hash


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - chars))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def run_in_subprocess(
    spec: TrialSpec,
    prepared_path: Path,
    out_dir: Path,
    timeout_s: float,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrialOutcome:
    """Run a trial in a child process; map crashes and timeouts to outcomes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("outcome.json", "progress.json"):
        (out_dir / stale).unlink(missing_ok=True)
    spec_path = out_dir / "spec.json"
    spec_path.write_text(spec.model_dump_json(indent=1))
    log_path = out_dir / "trial.log"
    start = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchsel.worker",
                str(spec_path),
                str(prepared_path),
                str(out_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole on timeout
            env={**os.environ, "PYTHONUNBUFFERED": "1", "BENCHSEL_PARENT_PID": str(os.getpid())},
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
                    _report_progress(out_dir / "progress.json", on_progress)
                time.sleep(0.5)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    outcome_path = out_dir / "outcome.json"
    if outcome_path.is_file():
        return TrialOutcome.from_json(outcome_path.read_text())
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


def _record(spec: TrialSpec, outcome: TrialOutcome, out_dir: Path, started: float) -> TrialRecord:
    return TrialRecord(
        hash=spec.hash,
        suite_name=spec.suite_name,
        arch_id=spec.arch_id,
        family=spec.family,
        task=spec.task,
        variant=spec.variant,
        loss=spec.loss,
        data_fraction=spec.data_fraction,
        seed=spec.seed,
        spec=json.loads(spec.model_dump_json()),
        status=outcome.status,
        error=outcome.error,
        started=started,
        finished=time.time(),
        wall_s=outcome.wall_s,
        log_path=str(out_dir / "trial.log"),
        checkpoint_path=outcome.checkpoint_path,
        conditions=outcome.conditions,
        environment=outcome.environment,
        curves=outcome.curves,
        metrics=dict(outcome.metrics),
    )


class Executor:
    """Runs trials and hands each outcome to ``on_done`` as soon as it finishes."""

    def run(
        self,
        specs: list[TrialSpec],
        prepared_path: Path,
        output: Path,
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
        prepared_path: Path,
        output: Path,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        for spec in specs:
            on_start(spec)
            started = time.time()
            outcome = run_in_subprocess(
                spec,
                prepared_path,
                trial_dir(output, spec),
                self.timeout_s,
                functools.partial(on_progress, spec),
            )
            on_done(spec, outcome, started)


class LocalExecutor(Executor):
    """In this process: no isolation, no timeout; for debugging."""

    def run(
        self,
        specs: list[TrialSpec],
        prepared_path: Path,
        output: Path,
        on_done: DoneFn,
        on_start: StartFn,
        on_progress: ProgressFn,
    ) -> None:
        prepared = PreparedData.load(prepared_path)
        for spec in specs:
            on_start(spec)
            started = time.time()
            outcome = run_trial(spec, prepared, trial_dir(output, spec))
            on_done(spec, outcome, started)


class RayExecutor(Executor):
    """Each trial is a Ray task asking for the CPUs / GPU it needs; results come back here."""

    def __init__(self, timeout_s: float, address: str | None, cpus_per_trial: int = 1) -> None:
        self.timeout_s, self.address, self.cpus = timeout_s, address, cpus_per_trial

    def run(
        self,
        specs: list[TrialSpec],
        prepared_path: Path,
        output: Path,
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
        pending = {}
        for spec in specs:
            gpus = 1 if spec.measurement.device == "cuda" else 0
            ref = remote.options(num_cpus=self.cpus, num_gpus=gpus).remote(
                spec.model_dump_json(),
                str(prepared_path),
                str(trial_dir(output, spec)),
                self.timeout_s,
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


def _ray_trial(spec_json: str, prepared_path: str, out_dir: str, timeout_s: float) -> str:
    """Runs on a Ray worker: the same isolated subprocess as the default executor."""
    spec = TrialSpec.model_validate_json(spec_json)
    return run_in_subprocess(spec, Path(prepared_path), Path(out_dir), timeout_s).to_json()


def make_executor(name: str, timeout_s: float, address: str | None = None) -> Executor:
    if name == "subprocess":
        return SubprocessExecutor(timeout_s)
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(timeout_s, address)
    raise BenchselError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def store_path_for(suite: Suite) -> Path:
    return suite.output / f"{suite.name}.sqlite"


def run_suite(
    suite: Suite,
    *,
    executor: Executor,
    fresh: bool = False,
    only: Iterable[str] | None = None,
    on_start: Callable[[TrialSpec], None] = lambda s: None,
    on_done: Callable[[TrialSpec, TrialOutcome], None] = lambda s, o: None,
    on_progress: ProgressFn = lambda s, p: None,
    on_plan: Callable[[list[TrialSpec], list[TrialSpec]], None] = lambda a, b: None,
) -> RunSummary:
    """Prepare the data, run every missing trial, store each result as it finishes."""
    from benchsel.measure.environment import environment

    start = time.perf_counter()
    output = suite.output
    output.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(store_path_for(suite))
    try:
        store.lock()
        tasks = {suite.task_of(c) for c in suite.candidates}
        prepared = prepare(suite, tasks, output / "work" / "data")
        prepare_s = time.perf_counter() - start
        specs = expand_trials(
            suite, dataset_key(suite, prepared.train_images + prepared.val_images, prepared.classes)
        )
        if only is not None:
            wanted = set(only)
            specs = [s for s in specs if s.arch_id in wanted]
        done = set() if fresh else store.finished_hashes(("ok",))
        todo = [s for s in specs if s.hash not in done]
        on_plan(specs, todo)
        run_id = store.start_run(
            suite.name,
            json.loads(suite.model_dump_json()),
            environment(),
            {"prepared": json.loads(json.dumps(prepared.__dict__, default=str))},
        )
        summary = RunSummary(store.path, len(specs), len(specs) - len(todo), 0, prepare_s=prepare_s)

        def save(spec: TrialSpec, outcome: TrialOutcome, started: float) -> None:
            store.save_trial(_record(spec, outcome, trial_dir(output, spec), started), run_id)
            summary.ran += 1
            if outcome.status != "ok":
                summary.failed.append(spec.label)
            on_done(spec, outcome)

        executor.run(
            todo, output / "work" / "data" / "prepared.json", output, save, on_start, on_progress
        )
        store.finish_run(run_id)
        summary.wall_s = time.perf_counter() - start
        return summary
    finally:
        store.close()
