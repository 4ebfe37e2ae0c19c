"""`benchsel run`: prepare the data, plan the trials, run the missing ones, store each result.

Re-running skips trials already stored as ok (same hash); ``--fresh`` redoes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchsel.pipeline.executors import Executor, ProgressFn
from benchsel.pipeline.layout import RunLayout, TrialFiles
from benchsel.pipeline.plan import TrialSpec, dataset_key, expand_trials
from benchsel.pipeline.prepare import prepare
from benchsel.pipeline.trial import TrialOutcome
from benchsel.store import ResultsStore, TrialRecord
from benchsel.suite import Suite


@dataclass
class RunSummary:
    """What a run did, for the closing line."""

    store_path: Path
    total: int
    skipped: int
    ran: int
    failed: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    prepare_s: float = 0.0


def _record(
    spec: TrialSpec, outcome: TrialOutcome, files: TrialFiles, started: float
) -> TrialRecord:
    """The stored row of a finished trial."""
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
        log_path=str(files.log),
        checkpoint_path=outcome.checkpoint_path,
        conditions=outcome.conditions,
        environment=outcome.environment,
        curves=outcome.curves,
        metrics=dict(outcome.metrics),
        eval_states=outcome.states_bytes(),
        val_predictions=outcome.predictions_bytes(),
    )


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
    seeds: dict[str, list[int]] | None = None,
) -> RunSummary:
    """Prepare the data, run every missing trial, store each result as it finishes.

    ``seeds`` (racing) gives some candidates, by name, other seeds than the suite's."""
    from benchsel.profiling.environment import environment

    start = time.perf_counter()
    layout = RunLayout(suite.output, suite.name)
    layout.output.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(layout.store)
    try:
        store.lock()
        tasks = {suite.task_of(c) for c in suite.candidates}
        prepared = prepare(suite, tasks, layout)
        prepare_s = time.perf_counter() - start
        specs = expand_trials(
            suite,
            dataset_key(suite, prepared.train_images + prepared.val_images, prepared.classes),
            seeds,
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
            store.save_trial(_record(spec, outcome, layout.trial(spec.hash), started), run_id)
            summary.ran += 1
            if outcome.status != "ok":
                summary.failed.append(spec.label)
            on_done(spec, outcome)

        executor.run(todo, layout, save, on_start, on_progress)
        store.finish_run(run_id)
        summary.wall_s = time.perf_counter() - start
        return summary
    finally:
        store.close()
