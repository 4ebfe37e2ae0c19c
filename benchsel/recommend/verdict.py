"""The verdict: how the leader stands against every feasible rival, from the evidence.

``clear`` when it is better than each beyond the uncertainty, ``equivalent`` when the rest lie
within the margin of it, ``undecided`` otherwise, ``uncontested`` with nothing to compare and
``no_signal`` when no candidate's interval clears an untrained model's score. The sentences are
in :mod:`benchsel.recommend.explain_verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from benchsel.recommend import explain_verdict as words
from benchsel.recommend.evidence import (
    SIGNAL_FLOOR,
    Comparison,
    Samples,
    compare,
    resample_all,
    separation,
    training_noise,
)
from benchsel.recommend.options import Option


def _has_signal(o: Option, samples: dict[str, Samples]) -> bool | None:
    """Whether ``o``'s accuracy interval clears an untrained model's score (None: no interval,
    which proves nothing)."""
    chance = samples[o.name].chance if o.name in samples else 0.0
    if o.accuracy_ci_low is None:
        return None
    return o.accuracy_ci_low > chance + SIGNAL_FLOOR


def _compare(a: Option, b: Option, samples: dict[str, Samples]) -> Comparison | None:
    """a minus b on shared resamples; None when either has no per-image states."""
    if a.name in samples and b.name in samples:
        return compare(samples[a.name], samples[b.name])  # None: different image sets
    return None


Outcome = Literal["better", "equivalent", "undecided"]


def _outcome(a: Option, b: Option, cmp: Comparison | None, margin: float) -> Outcome:
    """How the leader ``a`` stands against ``b``: equivalent when the difference's whole
    interval lies within ±margin (even if it excludes 0: a difference that does not matter),
    else better beyond the uncertainty, else undecided."""
    if cmp is not None and not math.isnan(cmp.ci_low):
        if cmp.within(margin):
            return "equivalent"
        return "better" if cmp.a_clearly_better else "undecided"
    # No per-image states (older results): only non-overlapping intervals separate them.
    if (
        a.accuracy_ci_low is not None
        and b.accuracy_ci_high is not None
        and a.accuracy_ci_low > b.accuracy_ci_high
    ):
        return "better"
    return "undecided"


@dataclass
class Decision:
    verdict: str
    best: Option | None
    tied: list[str]
    reasons: list[str]
    evidence: dict[str, Any]


def decide(feasible: list[Option], task: str, margin: float) -> Decision:
    """The verdict from the evidence. The leader (highest mean) is compared with every feasible
    rival: ``clear`` when it is better than each beyond the uncertainty, ``equivalent`` when the
    rest lie within ±margin of it (the faster, then cheaper, of them is picked), ``undecided``
    otherwise, ``uncontested`` with nothing to compare, ``no_signal`` when no candidate's
    interval clears an untrained model's score."""
    samples = resample_all(
        {o.name: o.state_blobs for o in feasible}, {o.name: o.metric_key for o in feasible}
    )
    for o in feasible:
        if o.name in samples:
            o.accuracy_ci_low, o.accuracy_ci_high = samples[o.name].interval()
    signal = {o.name: _has_signal(o, samples) for o in feasible}
    if not any(signal.values()) and all(v is not None for v in signal.values()):
        for o in feasible:
            o.reasons = [words.no_signal_option(o)]
        evidence = _evidence(feasible, feasible, samples, margin)
        return Decision("no_signal", None, [], words.no_signal(feasible), evidence)
    native = [o for o in feasible if o.measured_task == task]
    leader = (native or feasible)[0]
    richer: list[Option] = []
    outcomes: dict[str, tuple[Outcome, Comparison | None]] = {}
    for o in feasible:
        if o is leader:
            continue
        if o.measured_task != task and (o.accuracy or 0) >= (leader.accuracy or 0):
            o.reasons = [words.start_simple(o, leader)]
            richer.append(o)
            continue
        cmp = _compare(leader, o, samples)
        outcome = _outcome(leader, o, cmp, margin)
        outcomes[o.name] = (outcome, cmp)
        if outcome == "better":
            o.reasons = [words.less_accurate(o, leader, cmp)]
        elif outcome == "equivalent":
            o.reasons = [words.equivalent_to(o, leader, cmp, margin)]
        else:
            o.reasons = [words.indistinguishable(o, leader, cmp)]
        if signal[o.name] is False:
            o.reasons.append(words.near_chance(o))
    compared = [leader, *(o for o in feasible if o.name in outcomes)]
    evidence = _evidence(feasible, compared, samples, margin)
    evidence["leader"] = leader.name
    evidence["outcomes"] = {name: outcome for name, (outcome, _cmp) in outcomes.items()}
    start_simple = [words.richer_task_scores_higher(o, task) for o in richer[:1]]
    context = _context_reasons(compared, evidence, samples)
    undecided = [o for o in compared[1:] if outcomes[o.name][0] == "undecided"]
    equivalent = [o for o in compared[1:] if outcomes[o.name][0] == "equivalent"]
    if len(compared) == 1:
        reasons = [words.winner(leader), words.UNCONTESTED, *start_simple, *context]
        evidence["scored_on"] = _scored_on(leader)
        return Decision("uncontested", leader, [], reasons, evidence)
    if leader.accuracy_ci_low is None and not undecided:
        undecided = [o for o in compared[1:] if o not in equivalent]
    if undecided:
        advice = [
            words.how_to_separate(o, leader, separation(cmp, margin), margin)
            for o in undecided
            if (cmp := outcomes[o.name][1]) is not None
        ]
        if any(outcomes[o.name][1] is None for o in undecided):
            advice.append(words.NO_INTERVALS)
        reasons = [
            words.winner(leader),
            words.undecided(leader, undecided, margin),
            *advice[:3],
            *start_simple,
            *context,
        ]
        tied = [o.name for o in [*undecided, *equivalent]]
        evidence["scored_on"] = _scored_on(leader)
        return Decision("undecided", leader, tied, reasons, evidence)
    if equivalent:
        group = [leader, *equivalent]
        best = min(group, key=tie_break_key)
        for o in group:
            if o is not best:
                o.reasons = [words.equivalent_lost(o, best, margin), *o.reasons]
        reasons = [*words.equivalent(group, best, leader, margin), *start_simple, *context]
        evidence["scored_on"] = _scored_on(best)
        return Decision(
            "equivalent", best, [o.name for o in group if o is not best], reasons, evidence
        )
    runner = compared[1]
    reasons = [
        words.winner(leader),
        words.clear_margin(leader, runner, outcomes[runner.name][1]),
        *start_simple,
        *context,
    ]
    evidence["scored_on"] = _scored_on(leader)
    return Decision("clear", leader, [], reasons, evidence)


def _scored_on(o: Option) -> str:
    return "test" if o.test_accuracy is not None else "validation"


def _evidence(
    feasible: list[Option],
    compared: list[Option],
    samples: dict[str, Samples],
    margin: float,
) -> dict[str, Any]:
    """What the verdict rests on: training noise, seeds per option, margin, split, budgets."""
    names = [o.name for o in compared]
    budgets = {o.name: budget_key(o) for o in compared}
    return {
        "training_noise": training_noise(samples, names),
        "seeds": {o.name: o.seeds for o in feasible},
        "seeds_planned": {o.name: o.seeds_planned for o in feasible},
        "margin": margin,
        "scored_on": "validation",
        "budgets_equal": len(set(budgets.values())) <= 1,
        "compared": names,
    }


def budget_key(o: Option) -> tuple[Any, ...]:
    b = o.budget
    return (b.get("images_seen") or b.get("iterations"), bool(b.get("stopped_by_wall_clock")))


def _context_reasons(
    compared: list[Option], evidence: dict[str, Any], samples: dict[str, Samples]
) -> list[str]:
    """The sentences that say what the interval covers and what the budgets were."""
    out = [words.noise_coverage(evidence["training_noise"], compared, samples)]
    if not evidence["budgets_equal"]:
        out.append(words.unequal_budgets(compared))
    partial = [o for o in compared if o.seeds < o.seeds_planned]
    if partial:
        out.append(words.failed_seeds(partial))
    return out


def tie_break_key(o: Option) -> tuple[float, float, float]:
    """Faster first, then cheaper (labels + training), then fewer FLOPs."""
    return (
        o.latency_ms if o.latency_ms is not None else math.inf,
        o.cost_usd,
        o.gflops if o.gflops is not None else math.inf,
    )
