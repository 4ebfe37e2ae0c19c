"""The words of a recommendation: every sentence the engine attaches to a decision, and the
terminal rendering. Keeping them here leaves the engine a readable sequence of decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.recommend.engine import Recommendation
    from benchsel.recommend.evidence import Comparison
    from benchsel.recommend.options import Option

NOT_MEASURED = "no {metric} was measured"
ON_PARETO_FRONT = "It is on the Pareto front of accuracy, latency and cost."
PRIOR = (
    "This is a prior from OpenMMLab's published COCO/Cityscapes numbers and a decision table, "
    "not a measurement on your data: run `benchsel run` to measure."
)


def too_slow_fps(fps: float, required: float) -> str:
    return f"{fps:.1f} fps < {required:g} fps required"


def too_slow_ms(ms: float, allowed: float) -> str:
    return f"{ms:.1f} ms > {allowed:g} ms allowed"


def too_much_memory(what: str, gib: float, allowed: float) -> str:
    return f"{what} needs {gib:.1f} GiB > {allowed:g} GiB of GPU memory"


def too_many_hours(hours: float, allowed: float) -> str:
    return f"full training needs {hours:.1f} GPU-hours > {allowed:g}"


def too_costly(what: str, usd: float, allowed: float) -> str:
    return f"{what} ${usd:,.0f} > ${allowed:,.0f}"


def below_target(metric: str, value: float, target: float) -> str:
    return f"{metric} {value:.3f} < target {target:g}"


def runtime_basis(runtime: str, options: list[Option]) -> str:
    """How speeds are judged when deploying on ``runtime``."""
    deployed = sum(o.latency_ms is not None for o in options)
    return (
        f"Speed constraints are checked against {runtime} latencies (the exported network, "
        f"post-processing on the host), measured for {deployed} of {len(options)} options; "
        "accuracy is PyTorch's, and a model whose deployed accuracy disagrees with it is rejected."
    )


def prior_runtime(runtime: str) -> str:
    return (
        f"No {runtime} numbers without results: published speeds are PyTorch's. "
        f"Run a suite with measurement.runtimes: [pytorch, {runtime}] to check deployed speed."
    )


def not_checked(o: Option, missing: list[str]) -> str:
    return f"{o.name}: not checked: {', '.join(missing)}"


def cross_task(options: list[Option], metric: str) -> str:
    return (
        f"{', '.join(o.name for o in options)}: trained for a richer task, compared here on "
        f"{metric} (shared ground)"
    )


def unmeasured_families(families: Sequence[str], task: str) -> str:
    return (
        f"not measured on your data: {', '.join(families)} families "
        f"(run them to compare; `benchsel list --task {task}`)"
    )


def nothing_qualifies(rejected: list[Option]) -> str:
    closest = ", ".join(f"{o.name} ({'; '.join(o.reasons)})" for o in rejected[:3])
    return f"No measured candidate meets all constraints. Closest: {closest}."


def _interval(o: Option) -> str:
    if o.accuracy_ci_low is None or o.accuracy_ci_high is None:
        return ""
    return f" (95% interval {o.accuracy_ci_low:.3f} to {o.accuracy_ci_high:.3f})"


def _seeds(o: Option) -> str:
    if o.seeds < 2 or o.seed_min is None or o.seed_max is None:
        return ""
    return f", mean of {o.seeds} seeds ranging {o.seed_min:.3f} to {o.seed_max:.3f}"


def _diff(cmp: Comparison | None) -> str:
    if cmp is None:
        return "intervals compared, no per-image results stored"
    return (
        f"difference {cmp.difference:+.3f}, 95% interval {cmp.ci_low:+.3f} to {cmp.ci_high:+.3f}, "
        f"paired bootstrap over {cmp.n_images} images"
    )


def winner(best: Option) -> str:
    return (
        f"{best.name} has the highest {best.accuracy_metric} on your data among the candidates "
        f"that meet every constraint: {best.accuracy:.3f}{_interval(best)}{_seeds(best)}"
        + (f", at {best.fps:.1f} fps" if best.fps else "")
        + (f", {best.gflops:.1f} GFLOPs" if best.gflops else "")
        + "."
    )


def richer_task_scores_higher(o: Option, task: str) -> str:
    return (
        f"{o.name} scores higher ({o.accuracy:.3f}) but needs {o.measured_task} labels; "
        f"a {task} model meets the need, so start simple."
    )


def clear_margin(best: Option, runner: Option, cmp: Comparison | None) -> str:
    return (
        f"It is better than the runner-up {runner.name} ({runner.accuracy:.3f}) beyond the "
        f"uncertainty ({_diff(cmp)})."
    )


def tie(group: list[Option], best: Option, leader: Option) -> list[str]:
    names = ", ".join(o.name for o in group)
    out = [
        f"Tie: {names} cannot be told apart on {leader.accuracy_metric} with your validation "
        f"images (best {leader.name} {leader.accuracy:.3f}{_interval(leader)}; see each "
        "candidate's difference below)."
    ]
    speed = f"{best.latency_ms:.1f} ms" if best.latency_ms is not None else "speed unknown"
    out.append(
        f"{best.name} is recommended as the faster and cheaper of them ({speed} per image, "
        f"${best.cost_usd:,.0f} in labels and training). More validation images or seeds would "
        "narrow the intervals."
    )
    return out


def tie_lost(o: Option, best: Option) -> str:
    speed = f"{o.latency_ms:.1f} ms" if o.latency_ms is not None else "speed unknown"
    return f"tied on accuracy with {best.name}, which is faster or cheaper ({speed} here)"


def indistinguishable(o: Option, leader: Option, cmp: Comparison | None) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}{_interval(o)}: not distinguishable from "
        f"{leader.name} ({_diff(cmp)})"
    )


def less_accurate(o: Option, best: Option, cmp: Comparison | None) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}{_interval(o)} < {best.accuracy:.3f} of "
        f"{best.name} ({_diff(cmp)})"
    )


def no_signal_option(o: Option) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy or 0:.3f}{_interval(o)}: not distinguishable from an "
        "untrained model"
    )


def no_signal(options: list[Option]) -> list[str]:
    scores = ", ".join(f"{o.name} {o.accuracy or 0:.3f}{_interval(o)}" for o in options[:4])
    return [
        "No signal: no candidate is distinguishable from an untrained model on your data "
        f"({scores}); every accuracy interval reaches chance level, so nothing is recommended "
        "on accuracy grounds.",
        "Train longer (training.iterations / epochs), add labelled data, or start from a "
        "pretrained checkpoint (candidates[].checkpoint), then run again.",
    ]


NO_INTERVALS = (
    "Some results carry no accuracy interval (written by an older benchsel): their ranking "
    "rests on point estimates."
)


def start_simple(o: Option, best: Option) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}, but it needs {o.measured_task} labels "
        f"(${o.label_cost_usd or 0:,.0f} here vs ${best.label_cost_usd or 0:,.0f}) and "
        f"{best.name} already meets every constraint: start simple"
    )


def table_prefers(best: Option) -> str:
    return f"the decision table prefers {best.id} for these constraints"


def prior_reason(task: str, why: str) -> str:
    return f"Prior (no measurements on your data for {task}): {why}."


def alternatives(ids: list[str]) -> str:
    return f"Alternatives to measure: {', '.join(ids)}."


def mask_note(c: Constraints, prices: LabellingPrices, objects_per_image: float | None) -> str:
    """What pixel masks would add to the labelling bill, compared with boxes."""
    per_image = objects_per_image or 1.0
    box = prices.box.typical * per_image
    mask = prices.instance_mask.typical * per_image
    pixel = prices.pixel_mask.typical
    n = c.labelled_images or 1000
    low, high = sorted(((mask - box) * n, (pixel - box) * n))
    return (
        f"Boxes are the cheapest labels: about ${box:.2f} per image here "
        f"({per_image:.1f} objects x ${prices.box.typical:.2f}). Instance masks would cost "
        f"${mask:.2f} per image and full pixel masks ${pixel:.2f}, i.e. "
        f"${low:,.0f} to ${high:,.0f} more for {n:,} images. "
        "Choose segmentation only if pixel-accurate outlines change a decision downstream."
    )


def boxes_are_enough(c: Constraints, prices: LabellingPrices) -> str:
    return (
        "You said boxes are enough: a detection model is simpler and its labels cheaper; "
        "run the detection candidates (`benchsel recommend --task detection`). "
        f"{mask_note(c, prices, None)}"
    )


def describe(task: str, c: Constraints) -> list[str]:
    """The constraints in words."""
    out = [f"task: {task}"]
    if c.min_fps:
        out.append(f"at least {c.min_fps:g} fps (batch 1, end to end)")
    if c.max_latency_ms:
        out.append(f"at most {c.max_latency_ms:g} ms latency (batch 1, end to end)")
    if c.max_gpu_mem_gib:
        out.append(f"at most {c.max_gpu_mem_gib:g} GiB of GPU memory (training and inference)")
    if c.gpu_budget_hours:
        out.append(f"training budget {c.gpu_budget_hours:g} GPU-hours")
    if c.gpu_budget_usd:
        out.append(f"training budget ${c.gpu_budget_usd:,.0f}")
    if c.label_budget_usd:
        out.append(f"labelling budget ${c.label_budget_usd:,.0f}")
    if c.labelled_images:
        out.append(f"{c.labelled_images:,} labelled images available")
    if c.target_accuracy:
        out.append(f"target {task_info(task).primary_metric} >= {c.target_accuracy:g}")
    if c.domain != "general":
        out.append(f"domain: {c.domain}")
    if c.need_pixel_masks is not None:
        out.append("pixel masks needed" if c.need_pixel_masks else "boxes are enough")
    return out


def render_text(rec: Recommendation) -> str:
    """The recommendation as terminal text."""
    lines = []
    if rec.recommended:
        head = rec.recommended.name
    elif rec.verdict == "no_signal":
        head = "none (no signal in the accuracies)"
    else:
        head = "nothing meets the constraints"
    verdict = f", verdict: {rec.verdict}" if rec.verdict else ""
    lines.append(f"[{rec.task}] recommended: {head} (basis: {rec.basis}{verdict})")
    lines.append("  constraints: " + "; ".join(describe(rec.task, rec.constraints)))
    lines += [f"  why: {r}" for r in rec.reasons]
    for o in rec.ranking[1 if rec.recommended else 0 : 6]:
        lines.append(f"  - {o.name}: {'; '.join(o.reasons)}")
    for o in rec.rejected[:8]:
        lines.append(f"  x {o.name}: {'; '.join(o.reasons)}")
    lines += [f"  note: {n}" for n in rec.notes]
    return "\n".join(lines)
