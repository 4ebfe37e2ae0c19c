"""The decision: filter the options on the hard constraints, rank the rest, pick one.

A pure function of stored results, the catalog and the user's constraints. The words that
explain each decision come from :mod:`benchsel.recommend.explain`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchsel.catalog import load_catalog
from benchsel.recommend import explain
from benchsel.recommend.evidence import (
    SIGNAL_FLOOR,
    Comparison,
    Samples,
    compare,
    resample_all,
    separation,
    training_noise,
)
from benchsel.recommend.options import Option, measured_options, prior_options
from benchsel.recommend.prior import latency_limit_ms, prior_choice
from benchsel.store import TrialRecord
from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import task_info


@dataclass
class Recommendation:
    task: str
    basis: str
    recommended: Option | None
    ranking: list[Option]
    rejected: list[Option]
    reasons: list[str]
    notes: list[str]
    constraints: Constraints
    # clear | equivalent | undecided | uncontested | no_signal (None for the prior)
    verdict: str | None = None
    tied_with: list[str] = field(default_factory=list)  # names, for equivalent and undecided
    evidence: dict[str, Any] | None = None  # what the verdict rests on (None for the prior)

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommended
        return {
            "task": self.task,
            "basis": self.basis,
            "verdict": self.verdict,
            "tied_with": self.tied_with,
            "evidence": self.evidence,
            "recommended": None
            if rec is None
            else {
                "name": rec.name,
                "id": rec.id,
                "family": rec.family,
                "variant": rec.variant,
                "loss": rec.loss,
                "metric": rec.accuracy_metric,
                **{
                    k: rec.to_dict()[k]
                    for k in (
                        "accuracy",
                        "accuracy_ci_low",
                        "accuracy_ci_high",
                        "test_accuracy",
                        "test_accuracy_ci_low",
                        "test_accuracy_ci_high",
                        "deploy_accuracy",
                        "deploy_size",
                        "seeds",
                    )
                },
            },
            "reasons": self.reasons,
            "notes": self.notes,
            "ranking": [o.to_dict() for o in self.ranking],
            "rejected": [
                {"id": o.id, "name": o.name, "family": o.family, "reasons": o.reasons}
                for o in self.rejected
            ],
            "pareto": [o.name for o in self.ranking + self.rejected if o.pareto],
            "constraints": {"task": self.task, **self.constraints.model_dump()},
        }


def violations(o: Option, c: Constraints) -> list[str]:
    """Why ``o`` fails the hard constraints (empty when it meets them all)."""
    out = []
    if c.min_fps and o.fps is not None and o.fps < c.min_fps:
        out.append(explain.too_slow_fps(o.fps, c.min_fps))
    if c.max_latency_ms and o.latency_ms is not None and o.latency_ms > c.max_latency_ms:
        out.append(explain.too_slow_ms(o.latency_ms, c.max_latency_ms))
    if c.max_gpu_mem_gib and o.on_gpu:
        for what, mem in (("inference", o.infer_mem_gib), ("training", o.train_mem_gib)):
            if mem is not None and mem > c.max_gpu_mem_gib:
                out.append(explain.too_much_memory(what, mem, c.max_gpu_mem_gib))
    if c.gpu_budget_hours and o.gpu_hours is not None and o.gpu_hours > c.gpu_budget_hours:
        out.append(explain.too_many_hours(o.gpu_hours, c.gpu_budget_hours))
    if c.gpu_budget_usd and o.train_usd is not None and o.train_usd > c.gpu_budget_usd:
        out.append(explain.too_costly("full training costs", o.train_usd, c.gpu_budget_usd))
    if (
        c.label_budget_usd
        and o.label_cost_usd is not None
        and o.label_cost_usd > c.label_budget_usd
    ):
        out.append(explain.too_costly("its labels cost", o.label_cost_usd, c.label_budget_usd))
    if o.runtime_error is not None:
        out.append(o.runtime_error)
    if c.target_accuracy and o.accuracy is not None and o.accuracy < c.target_accuracy:
        out.append(explain.below_target(o.accuracy_metric, o.accuracy, c.target_accuracy))
    if o.accuracy is None:
        out.append(explain.NOT_MEASURED.format(metric=o.accuracy_metric or "accuracy"))
    return out


def unchecked(o: Option, c: Constraints) -> list[str]:
    """Constraints that could not be checked for ``o`` (missing measurements)."""
    out = []
    if latency_limit_ms(c) and o.fps is None and o.latency_ms is None and not o.runtime_error:
        where = "" if o.runtime == "pytorch" else f" on {o.runtime} (see measurement.runtimes)"
        out.append(f"speed not measured{where}")
    if c.max_gpu_mem_gib and not o.on_gpu:
        out.append("GPU memory not measured (measured on CPU)")
    if (c.gpu_budget_hours or c.gpu_budget_usd) and o.gpu_hours is None:
        out.append(
            "GPU training cost not measured"
            + (
                f" (trained on CPU: {o.cpu_hours:,.1f} CPU-hours for the full schedule)"
                if o.cpu_hours
                else ""
            )
        )
    return out


def _rank_key(o: Option) -> tuple[float, float, float]:
    return (-(o.accuracy or 0.0), o.gflops or math.inf, o.cost_usd)


def rank(options: list[Option]) -> list[Option]:
    """By mean accuracy (fewer GFLOPs, then lower cost, first among equal accuracies).

    Whether two options can be told apart is the verdict's business (see ``_decide``)."""
    return sorted(options, key=_rank_key)


def mark_pareto(options: list[Option]) -> None:
    """Pareto front: no other option is at least as accurate, as fast and as cheap, and better
    in one of them."""

    def dims(o: Option) -> tuple[float, float, float]:
        return (
            -(o.accuracy or 0.0),
            o.latency_ms if o.latency_ms is not None else math.inf,
            o.cost_usd,
        )

    for o in options:
        a = dims(o)
        o.pareto = not any(
            all(x <= y for x, y in zip(dims(p), a, strict=True)) and dims(p) != a
            for p in options
            if p is not o
        )


def recommend(
    trials: Sequence[TrialRecord] | None,
    task: str,
    constraints: Constraints | None = None,
    prices: LabellingPrices | None = None,
    gpu_hour_usd: float = 2.5,
    runtime: str = "pytorch",
) -> Recommendation:
    """Recommend an architecture for ``task`` from measured ``trials`` (or the prior); speed
    constraints apply to the numbers measured on ``runtime`` (pytorch or onnxruntime)."""
    c = constraints or Constraints()
    prices = prices or LabellingPrices()
    measured = measured_options(trials or [], task, c, runtime)
    if not measured:
        rec = _recommend_prior(task, c, gpu_hour_usd)
        if runtime != "pytorch":
            rec.notes.append(explain.prior_runtime(runtime))
        return rec
    metric = task_info(task).primary_metric
    notes: list[str] = []
    for o in measured:
        o.reasons = violations(o, c)
        missing = unchecked(o, c)
        if missing:
            notes.append(explain.not_checked(o, missing))
    mark_pareto(measured)
    feasible = rank([o for o in measured if not o.reasons])
    routes = _label_routes(trials or [], task, c, prices, measured) if c.target_accuracy else {}
    if not feasible and routes:
        return _recommend_route(task, c, measured, routes, notes)
    if routes:
        notes.append(explain.routes_note(routes, c))
    rejected = sorted(
        (o for o in measured if o.reasons), key=lambda o: (len(o.reasons), _rank_key(o))
    )
    cross = [o for o in measured if o.measured_task != task]
    if cross:
        notes.append(explain.cross_task(cross, metric))
    unmeasured = sorted(
        {a.family for a in load_catalog().architectures if task in a.tasks}
        - {o.family for o in measured}
    )
    if unmeasured:
        notes.append(explain.unmeasured_families(unmeasured, task))
    if runtime != "pytorch":
        notes.append(explain.runtime_basis(runtime, measured))
    if not feasible:
        reasons = [explain.nothing_qualifies(rejected)]
        return Recommendation(task, "measured", None, [], rejected, reasons, notes, c)
    decision = _decide(feasible, task, c.margin)
    best, reasons = decision.best, decision.reasons
    if best is None:
        return Recommendation(
            task,
            "measured",
            None,
            feasible,
            rejected,
            reasons,
            notes,
            c,
            decision.verdict,
            evidence=decision.evidence,
        )
    feasible.remove(best)
    feasible.insert(0, best)
    reasons.append(explain.pick_score(best))
    if best.pareto:
        reasons.append(explain.ON_PARETO_FRONT)
    if task == "detection" and not c.need_pixel_masks:
        notes.append(explain.mask_note(c, prices, _objects_per_image(trials or [], best)))
    if task != "detection" and c.need_pixel_masks is False:
        notes.append(explain.boxes_are_enough(c, prices))
    return Recommendation(
        task,
        "measured",
        best,
        feasible,
        rejected,
        reasons,
        notes,
        c,
        decision.verdict,
        decision.tied,
        decision.evidence,
    )


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


def _decide(feasible: list[Option], task: str, margin: float) -> Decision:
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
            o.reasons = [explain.no_signal_option(o)]
        evidence = _evidence(feasible, feasible, samples, margin)
        return Decision("no_signal", None, [], explain.no_signal(feasible), evidence)
    native = [o for o in feasible if o.measured_task == task]
    leader = (native or feasible)[0]
    richer: list[Option] = []
    outcomes: dict[str, tuple[Outcome, Comparison | None]] = {}
    for o in feasible:
        if o is leader:
            continue
        if o.measured_task != task and (o.accuracy or 0) >= (leader.accuracy or 0):
            o.reasons = [explain.start_simple(o, leader)]
            richer.append(o)
            continue
        cmp = _compare(leader, o, samples)
        outcome = _outcome(leader, o, cmp, margin)
        outcomes[o.name] = (outcome, cmp)
        if outcome == "better":
            o.reasons = [explain.less_accurate(o, leader, cmp)]
        elif outcome == "equivalent":
            o.reasons = [explain.equivalent_to(o, leader, cmp, margin)]
        else:
            o.reasons = [explain.indistinguishable(o, leader, cmp)]
        if signal[o.name] is False:
            o.reasons.append(explain.near_chance(o))
    compared = [leader, *(o for o in feasible if o.name in outcomes)]
    evidence = _evidence(feasible, compared, samples, margin)
    evidence["leader"] = leader.name
    evidence["outcomes"] = {name: outcome for name, (outcome, _cmp) in outcomes.items()}
    start_simple = [explain.richer_task_scores_higher(o, task) for o in richer[:1]]
    context = _context_reasons(compared, evidence, samples)
    undecided = [o for o in compared[1:] if outcomes[o.name][0] == "undecided"]
    equivalent = [o for o in compared[1:] if outcomes[o.name][0] == "equivalent"]
    if len(compared) == 1:
        reasons = [explain.winner(leader), explain.UNCONTESTED, *start_simple, *context]
        evidence["scored_on"] = _scored_on(leader)
        return Decision("uncontested", leader, [], reasons, evidence)
    if leader.accuracy_ci_low is None and not undecided:
        undecided = [o for o in compared[1:] if o not in equivalent]
    if undecided:
        advice = [
            explain.how_to_separate(o, leader, separation(cmp, margin), margin)
            for o in undecided
            if (cmp := outcomes[o.name][1]) is not None
        ]
        if any(outcomes[o.name][1] is None for o in undecided):
            advice.append(explain.NO_INTERVALS)
        reasons = [
            explain.winner(leader),
            explain.undecided(leader, undecided, margin),
            *advice[:3],
            *start_simple,
            *context,
        ]
        tied = [o.name for o in [*undecided, *equivalent]]
        evidence["scored_on"] = _scored_on(leader)
        return Decision("undecided", leader, tied, reasons, evidence)
    if equivalent:
        group = [leader, *equivalent]
        best = min(group, key=_tie_break_key)
        for o in group:
            if o is not best:
                o.reasons = [explain.equivalent_lost(o, best, margin), *o.reasons]
        reasons = [*explain.equivalent(group, best, leader, margin), *start_simple, *context]
        evidence["scored_on"] = _scored_on(best)
        return Decision(
            "equivalent", best, [o.name for o in group if o is not best], reasons, evidence
        )
    runner = compared[1]
    reasons = [
        explain.winner(leader),
        explain.clear_margin(leader, runner, outcomes[runner.name][1]),
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
    budgets = {o.name: _budget_key(o) for o in compared}
    return {
        "training_noise": training_noise(samples, names),
        "seeds": {o.name: o.seeds for o in feasible},
        "seeds_planned": {o.name: o.seeds_planned for o in feasible},
        "margin": margin,
        "scored_on": "validation",
        "budgets_equal": len(set(budgets.values())) <= 1,
        "compared": names,
    }


def _budget_key(o: Option) -> tuple[Any, ...]:
    b = o.budget
    return (b.get("images_seen") or b.get("iterations"), bool(b.get("stopped_by_wall_clock")))


def _context_reasons(
    compared: list[Option], evidence: dict[str, Any], samples: dict[str, Samples]
) -> list[str]:
    """The sentences that say what the interval covers and what the budgets were."""
    out = [explain.noise_coverage(evidence["training_noise"], compared, samples)]
    if not evidence["budgets_equal"]:
        out.append(explain.unequal_budgets(compared))
    partial = [o for o in compared if o.seeds < o.seeds_planned]
    if partial:
        out.append(explain.failed_seeds(partial))
    return out


def _label_routes(
    trials: Sequence[TrialRecord],
    task: str,
    c: Constraints,
    prices: LabellingPrices,
    measured: list[Option],
) -> dict[str, Any]:
    """name -> images needed (``benchsel.recommend.forecast.ImagesNeeded``) for every option that
    misses only the target accuracy and whose learning curve, extrapolated, reaches it."""
    from benchsel.recommend.forecast import curves_from_trials, images_needed, price_per_image

    assert c.target_accuracy is not None
    short = explain.below_target  # the one reason a forecast can answer
    only_short = {
        o.name
        for o in measured
        if o.accuracy is not None
        and o.reasons == [short(o.accuracy_metric, o.accuracy, c.target_accuracy)]
    }
    out: dict[str, Any] = {}
    for curve in curves_from_trials(trials, task):
        if curve.name not in only_short:
            continue
        need = images_needed(
            curve.points,
            c.target_accuracy,
            price_per_image(prices, task, curve.units_per_image),
            c.labelled_images,
        )
        if need is not None and need.reachable and need.images is not None:
            out[curve.name] = need
    return out


def _recommend_route(
    task: str, c: Constraints, measured: list[Option], routes: dict[str, Any], notes: list[str]
) -> Recommendation:
    """No candidate reaches the target on the labels measured, but learning curves say some
    would with more: pick the cheapest route (labelling cost at the typical price, then fewer
    images), every other constraint met."""

    def cost(name: str) -> tuple[float, float]:
        need = routes[name]
        return ((need.cost_usd or {}).get("typical", math.inf), need.images)

    order = sorted(routes, key=cost)
    by_name = {o.name: o for o in measured}
    best = by_name[order[0]]
    ranking = [by_name[n] for n in order]
    for o in ranking:
        o.reasons = [explain.route(o, routes[o.name], c)]
    rejected = [o for o in measured if o.name not in routes]
    reasons = [
        explain.cheapest_route(best, routes[best.name], c),
        *explain.other_routes(ranking[1:], routes),
    ]
    evidence = {
        "training_noise": "not_measured",
        "seeds": {o.name: o.seeds for o in measured},
        "seeds_planned": {o.name: o.seeds_planned for o in measured},
        "margin": c.margin,
        "scored_on": "forecast",
        "budgets_equal": len({_budget_key(o) for o in ranking}) <= 1,
        "compared": order,
        "forecast": {
            n: routes[n].to_dict() | {"extrapolation": routes[n].extrapolation} for n in order
        },
    }
    return Recommendation(
        task, "measured", best, ranking, rejected, reasons, notes, c, "forecast", [], evidence
    )


def _tie_break_key(o: Option) -> tuple[float, float, float]:
    """Faster first, then cheaper (labels + training), then fewer FLOPs."""
    return (
        o.latency_ms if o.latency_ms is not None else math.inf,
        o.cost_usd,
        o.gflops if o.gflops is not None else math.inf,
    )


def _objects_per_image(trials: Sequence[TrialRecord], o: Option) -> float | None:
    for t in trials:
        if t.arch_id == o.id and t.status == "ok":
            units, images = t.metrics.get("label_units"), t.metrics.get("labelled_images")
            if units and images:
                return float(units) / float(images)
    return None


def _recommend_prior(task: str, c: Constraints, gpu_hour_usd: float) -> Recommendation:
    choice = prior_choice(task, c, gpu_hour_usd)
    options = prior_options(task)
    for o in options:
        o.reasons = list(choice.unmet.get(o.id, []))
    mark_pareto(options)
    best = next((o for o in options if choice.pick and o.id == choice.pick.id), None)
    rejected = sorted((o for o in options if o.reasons), key=_rank_key)
    feasible = rank([o for o in options if not o.reasons and o is not best])
    if best is not None:
        feasible.insert(0, best)
        for o in feasible[1:]:
            o.reasons = [explain.table_prefers(best)]
    reasons = [explain.prior_reason(task, r) for r in choice.reasons[:1]] + choice.reasons[1:]
    if choice.alternatives:
        reasons.append(explain.alternatives(choice.alternatives))
    return Recommendation(task, "prior", best, feasible, rejected, reasons, [explain.PRIOR], c)


def recommend_for_suite(trials: Sequence[TrialRecord], suite: Any) -> list[Recommendation]:
    """One recommendation per task the stored trials cover, with the suite's constraints."""
    tasks = sorted({t.task for t in trials})
    return [
        recommend(trials, task, suite.constraints, suite.labelling, suite.cost.gpu_hour_usd)
        for task in tasks
    ]
