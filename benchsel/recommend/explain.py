"""The words of a recommendation: every sentence the engine attaches to a decision, and the
terminal rendering. Keeping them here leaves the engine a readable sequence of decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.recommend.engine import Recommendation
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


def too_much_memory(what: str, gb: float, allowed: float) -> str:
    return f"{what} needs {gb:.1f} GB > {allowed:g} GB of GPU memory"


def too_many_hours(hours: float, allowed: float) -> str:
    return f"full training needs {hours:.1f} GPU-hours > {allowed:g}"


def too_costly(what: str, usd: float, allowed: float) -> str:
    return f"{what} ${usd:,.0f} > ${allowed:,.0f}"


def below_target(metric: str, value: float, target: float) -> str:
    return f"{metric} {value:.3f} < target {target:g}"


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


def winner(best: Option) -> str:
    return (
        f"{best.name} has the highest {best.accuracy_metric} on your data among the candidates "
        f"that meet every constraint: {best.accuracy:.3f}"
        + (f", at {best.fps:.1f} fps" if best.fps else "")
        + (f", {best.gflops:.1f} GFLOPs" if best.gflops else "")
        + "."
    )


def richer_task_scores_higher(runner: Option, task: str) -> str:
    return (
        f"{runner.name} scores higher ({runner.accuracy:.3f}) but needs "
        f"{runner.measured_task} labels; a {task} model meets the need, so start simple."
    )


def as_accurate_but_simpler(runner: Option, best: Option) -> str:
    return (
        f"{runner.name} is as accurate ({runner.accuracy:.3f}); {best.name} wins "
        "as the simpler, cheaper model."
    )


def runner_up(runner: Option, gap: float) -> str:
    return f"Runner-up: {runner.name} ({runner.accuracy:.3f}, {gap:.3f} lower)."


def start_simple(o: Option, best: Option) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}, but it needs {o.measured_task} labels "
        f"(${o.label_cost_usd or 0:,.0f} here vs ${best.label_cost_usd or 0:,.0f}) and "
        f"{best.name} already meets every constraint: start simple"
    )


def less_accurate(o: Option, best: Option) -> str:
    return f"{o.accuracy_metric} {o.accuracy:.3f} < {best.accuracy:.3f} of {best.name}"


def as_accurate_but_costlier(best: Option) -> str:
    return f"as accurate as {best.name} but costlier"


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
    return (
        f"Boxes are the cheapest labels: about ${box:.2f} per image here "
        f"({per_image:.1f} objects x ${prices.box.typical:.2f}). Instance masks would cost "
        f"${mask:.2f} per image and full pixel masks ${pixel:.2f}, i.e. "
        f"${(mask - box) * n:,.0f} to ${(pixel - box) * n:,.0f} more for {n:,} images. "
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
    if c.max_gpu_mem_gb:
        out.append(f"at most {c.max_gpu_mem_gb:g} GB of GPU memory (training and inference)")
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
    head = rec.recommended.name if rec.recommended else "nothing meets the constraints"
    lines.append(f"[{rec.task}] recommended: {head} (basis: {rec.basis})")
    lines.append("  constraints: " + "; ".join(describe(rec.task, rec.constraints)))
    lines += [f"  why: {r}" for r in rec.reasons]
    for o in rec.ranking[1:6]:
        lines.append(f"  - {o.name}: {'; '.join(o.reasons)}")
    for o in rec.rejected[:8]:
        lines.append(f"  x {o.name}: {'; '.join(o.reasons)}")
    lines += [f"  note: {n}" for n in rec.notes]
    return "\n".join(lines)
