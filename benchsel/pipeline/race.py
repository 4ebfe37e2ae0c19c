"""Racing: spend seeds where the verdict is undecided.

Round one runs the suite's seeds (one by default) for every candidate. After each round the
verdict is worked out again, and a seed is added only to the leader and the rivals still
undecided with it (and, while no candidate has two seeds, to the leader alone, so training
noise can be measured at all). The race ends when every task's verdict is decided with training
noise in the evidence, when the undecided candidates reach ``max_seeds``, or when
``training.max_hours`` is spent. Each trial keeps the suite's settings, so its hash, and a
resumed race, are those of a plain run with the same seeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.pipeline.executors import Executor
from benchsel.pipeline.run import RunSummary, run_suite
from benchsel.store import ResultsStore
from benchsel.suite import Suite

DECIDED = ("clear", "equivalent")
FINAL = ("no_signal", "uncontested")  # more seeds cannot change these


@dataclass
class RaceRound:
    """One round: the seeds each candidate had, the verdicts they gave, what was added."""

    round: int
    seeds: dict[str, int]
    verdicts: dict[str, str]  # task -> verdict
    training_noise: dict[str, str]  # task -> measured | pooled | not_measured
    added: dict[str, str] = field(default_factory=dict)  # name -> why it got another seed


def initial_seeds(suite: Suite) -> dict[str, list[int]]:
    """Each candidate option's seeds in round one: its training section's."""
    out: dict[str, list[int]] = {}
    for cand in suite.candidates:
        seeds = cand.training_over(suite.training).seeds
        for name in cand.option_names():
            out[name] = list(seeds)
    return out


def seeds_to_add(
    recommendations: Iterable[Any], seeds: dict[str, list[int]], max_seeds: int
) -> dict[str, str]:
    """name -> why, for every option that should get one more seed after this round."""
    add: dict[str, str] = {}

    def want(name: str, why: str) -> None:
        if name in seeds and len(seeds[name]) < max_seeds and name not in add:
            add[name] = why

    for rec in recommendations:
        ev = rec.evidence or {}
        if rec.basis != "measured" or rec.recommended is None or rec.verdict in FINAL:
            continue
        label_of = {o.name: o.label or o.name for o in rec.ranking}
        leader = label_of.get(ev.get("leader", rec.recommended.name), rec.recommended.label)
        undecided = [
            n for n, outcome in (ev.get("outcomes") or {}).items() if outcome == "undecided"
        ]
        if rec.verdict == "undecided" and undecided:
            want(leader, f"leads {rec.task} but is undecided with {', '.join(undecided)}")
            for name in undecided:
                want(label_of.get(name, name), f"undecided with the {rec.task} leader")
        elif rec.verdict in DECIDED and ev.get("training_noise") == "not_measured":
            want(leader, f"{rec.verdict} on one run each: measure training noise on the leader")
    return add


def race_suite(
    suite: Suite,
    *,
    executor: Executor,
    max_seeds: int,
    fresh: bool = False,
    only: Iterable[str] | None = None,
    on_round: Callable[[str], None] = lambda line: None,
    **callbacks: Any,
) -> RunSummary:
    """Run ``suite`` in rounds, adding seeds where the verdict is undecided (see the module)."""
    from benchsel.recommend.engine import recommend_for_suite

    start = time.perf_counter()
    seeds = initial_seeds(suite)
    rounds: list[RaceRound] = []
    total: RunSummary | None = None
    budget_s = suite.training.max_hours * 3600 if suite.training.max_hours else None
    only_list = list(only) if only is not None else None
    while True:
        summary = run_suite(
            suite,
            executor=executor,
            fresh=fresh and not rounds,
            only=only_list,
            seeds=seeds,
            **callbacks,
        )
        if total is None:
            total = summary
        else:
            total.ran += summary.ran
            total.failed += summary.failed
            total.total = summary.total
            total.skipped = summary.total - total.ran
        with ResultsStore(summary.store_path) as store:
            trials = store.trials()
        recs = recommend_for_suite(trials, suite)
        this = RaceRound(
            round=len(rounds) + 1,
            seeds={name: len(s) for name, s in seeds.items()},
            verdicts={r.task: str(r.verdict) for r in recs},
            training_noise={r.task: str((r.evidence or {}).get("training_noise")) for r in recs},
        )
        rounds.append(this)
        add = seeds_to_add(recs, seeds, max_seeds)
        out_of_time = budget_s is not None and time.perf_counter() - start > budget_s
        if out_of_time:
            add = {}
        this.added = add
        on_round(_describe(this, out_of_time, max_seeds))
        if not add:
            break
        for name in add:
            seeds[name].append(max(seeds[name]) + 1)
    assert total is not None
    total.wall_s = time.perf_counter() - start
    with ResultsStore(total.store_path) as store:
        store.annotate_latest_run(
            "race", {"max_seeds": max_seeds, "rounds": [asdict(r) for r in rounds]}
        )
    return total


def _describe(r: RaceRound, out_of_time: bool, max_seeds: int) -> str:
    verdicts = ", ".join(
        f"{task} {v} (training noise {r.training_noise[task]})" for task, v in r.verdicts.items()
    )
    seeds = ", ".join(f"{name} {n}" for name, n in r.seeds.items())
    line = f"race round {r.round}: seeds {seeds}; verdict {verdicts}"
    if r.added:
        line += "; adding a seed to " + "; ".join(f"{n} ({why})" for n, why in r.added.items())
    elif out_of_time:
        line += "; training.max_hours spent: stopping"
    elif all(v in (*DECIDED, *FINAL) for v in r.verdicts.values()):
        line += "; done: decided"
    else:
        line += f"; done: the undecided candidates reached {max_seeds} seeds"
    return line
