"""The words of a verdict: the winner and how sure we are, each rival's comparison with it,
what the intervals cover, and what would settle an undecided comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchsel.recommend.evidence import Comparison, Samples, Separation
    from benchsel.recommend.options import Option
    from benchsel.recommend.recommendation import Recommendation


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
    if cmp.training_noise == "not_measured":
        basis = f"paired bootstrap over {cmp.n_images} images, one training run each"
    else:
        a, b = cmp.seeds
        basis = f"{cmp.n_images} images paired and {a} vs {b} seeds" + (
            " (seed spread partly pooled)" if cmp.training_noise == "pooled" else ""
        )
    return (
        f"difference {cmp.difference:+.3f}, 95% interval {cmp.ci_low:+.3f} to {cmp.ci_high:+.3f}, "
        + basis
    )


def _speed(o: Option) -> str:
    """fps (from the p50 latency) and, when the model is deployed at another size, the
    accuracy measured there: the two numbers stand together."""
    if not o.fps:
        return ""
    text = f", at {o.fps:.1f} fps (p50 latency {o.latency_ms:.1f} ms)" if o.latency_ms else ""
    if o.deploy_accuracy is not None and o.deploy_size:
        h, w = o.deploy_size
        text += f" at the deployment size {h}x{w}, where it scores {o.deploy_accuracy:.3f}"
    return text


def winner(best: Option) -> str:
    return (
        f"{best.name} has the highest {best.accuracy_metric} on your data among the candidates "
        f"that meet every constraint: {best.accuracy:.3f}{_interval(best)}{_seeds(best)}"
        + _speed(best)
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
        f"Clear: it is better than every rival beyond the uncertainty; the closest, "
        f"{runner.name} ({runner.accuracy:.3f}): {_diff(cmp)}."
    )


UNCONTESTED = (
    "Uncontested: it is the only measured candidate that meets every constraint, so nothing "
    "was compared with it; measure rivals to know whether another architecture would do better."
)


def equivalent(group: list[Option], best: Option, leader: Option, margin: float) -> list[str]:
    names = ", ".join(o.name for o in group)
    out = [
        f"Equivalent: {names} differ by less than the margin of {margin:g} "
        f"{leader.accuracy_metric} (every difference's 95% interval lies within ±{margin:g}); "
        f"highest {leader.name} {leader.accuracy:.3f}{_interval(leader)}."
    ]
    speed = f"{best.latency_ms:.1f} ms p50" if best.latency_ms is not None else "speed unknown"
    out.append(
        f"{best.name} is recommended as the fastest of them, then the cheapest ({speed} per "
        f"image, ${best.cost_usd:,.0f} in labels and training)."
    )
    return out


def equivalent_lost(o: Option, best: Option, margin: float) -> str:
    speed = f"{o.latency_ms:.1f} ms" if o.latency_ms is not None else "speed unknown"
    return (
        f"equivalent within ±{margin:g} to {best.name}, which is faster or cheaper ({speed} here)"
    )


def equivalent_to(o: Option, leader: Option, cmp: Comparison | None, margin: float) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}{_interval(o)}: equivalent to {leader.name} "
        f"within ±{margin:g} ({_diff(cmp)})"
    )


def undecided(leader: Option, rivals: list[Option], margin: float) -> str:
    names = ", ".join(o.name for o in rivals)
    return (
        f"Undecided: {leader.name} leads on the point estimate, but the evidence neither "
        f"separates it from {names} nor shows them equivalent within ±{margin:g}; it is picked "
        "provisionally."
    )


def how_to_separate(o: Option, leader: Option, sep: Separation, margin: float) -> str:
    """Roughly what would settle ``leader`` vs ``o``."""
    if sep.needs_seeds_first:
        return (
            f"{leader.name} vs {o.name}: with one training run each, training noise is not "
            "measured; add seeds (training.seeds: [0, 1, 2], or `benchsel run --until-decided`)"
        )
    what = "separate them" if sep.goal == "separate" else f"show them equivalent within ±{margin:g}"
    if sep.seeds is not None and sep.image_factor is None:
        return f"{leader.name} vs {o.name}: about {sep.seeds} seeds each would {what}"
    if sep.image_factor is not None:
        return (
            f"{leader.name} vs {o.name}: even {sep.seeds} seeds each would not {what}; about "
            f"{sep.image_factor:g}x the validation images with them might"
        )
    return (
        f"{leader.name} vs {o.name}: the difference is too small for any practical number of "
        f"seeds or images to separate; a larger margin (--margin) would call them equivalent"
    )


def noise_coverage(noise: str, options: list[Option], samples: dict[str, Samples]) -> str:
    """What the intervals cover, in words."""
    if noise == "not_measured":
        return (
            "One training run per candidate: the interval does not include training noise "
            "(the spread between seeds), only the choice of validation images. Add seeds "
            "(training.seeds: [0, 1, 2]) or run with --until-decided to measure it."
        )
    seeds = ", ".join(f"{o.name} {o.seeds}" for o in options)
    text = (
        "Intervals include training noise (the spread between seeds, t with Welch-"
        f"Satterthwaite degrees of freedom) and the choice of validation images; seeds: {seeds}."
    )
    if noise == "pooled":
        borrowed = [
            o.name
            for o in options
            if o.name in samples
            and samples[o.name].noise is not None
            and samples[o.name].noise.source == "pooled"  # type: ignore[union-attr]
        ]
        text += (
            f" {', '.join(borrowed)} ran one seed and borrow the seed spread pooled from the "
            "others (an assumption that seeds scatter alike)."
        )
    return text


def unequal_budgets(options: list[Option]) -> str:
    def one(o: Option) -> str:
        b = o.budget
        text = f"{o.name} {b.get('iterations')} iterations x batch {b.get('batch_size')}"
        return text + (" (stopped by the wall-clock cap)" if b.get("stopped_by_wall_clock") else "")

    return (
        "The compared candidates had different training budgets: "
        + "; ".join(one(o) for o in options)
        + ". The verdict compares them as trained, not at equal cost."
    )


def failed_seeds(options: list[Option]) -> str:
    return "Only the seeds that finished count: " + ", ".join(
        f"{o.name} {o.seeds} of {o.seeds_planned} seeds ok" for o in options
    )


def pick_score(best: Option) -> str:
    """The pick's honest score: on the test split when there is one."""
    if best.test_accuracy is not None:
        interval = (
            f" (95% interval {best.test_accuracy_ci_low:.3f} to {best.test_accuracy_ci_high:.3f})"
            if best.test_accuracy_ci_low is not None and best.test_accuracy_ci_high is not None
            else ""
        )
        return (
            f"On the held-out test split, which took no part in the choice, it scores "
            f"{best.test_accuracy:.3f}{interval}."
        )
    return (
        f"Its {best.accuracy_metric} {best.accuracy:.3f} was measured on the images it was "
        "chosen on (optimistic); give a held-out split (dataset.test) for an unbiased score."
    )


def indistinguishable(o: Option, leader: Option, cmp: Comparison | None) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}{_interval(o)}: not separated from "
        f"{leader.name} ({_diff(cmp)})"
    )


def less_accurate(o: Option, best: Option, cmp: Comparison | None) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f}{_interval(o)} < {best.accuracy:.3f} of "
        f"{best.name} ({_diff(cmp)})"
    )


def near_chance(o: Option) -> str:
    return "its own interval reaches an untrained model's score"


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


NOISE_WORDS = {
    "measured": "training noise measured (seeds) and validation images",
    "pooled": "training noise partly pooled across candidates, and validation images",
    "not_measured": "validation images only: one training run per candidate, training noise "
    "not included",
}


def evidence_summary(rec: Recommendation) -> str:
    """One line: what the verdict's intervals cover and what it was scored on."""
    ev = rec.evidence
    if not ev:
        return ""
    seeds = ", ".join(
        f"{name} {n}"
        + (f" of {ev['seeds_planned'][name]}" if ev["seeds_planned"].get(name, n) != n else "")
        for name, n in ev["seeds"].items()
    )
    scored = {
        "test": "the pick's score is on the held-out test split",
        "forecast": "the pick rests on a learning-curve forecast, not a measurement",
    }.get(
        ev["scored_on"], "the pick's score is on the validation images that chose it (optimistic)"
    )
    budgets = "equal training budgets" if ev["budgets_equal"] else "unequal training budgets"
    return (
        f"Evidence: intervals cover {NOISE_WORDS[ev['training_noise']]}; seeds: {seeds}; "
        f"margin ±{ev['margin']:g}; {scored}; {budgets}."
    )
