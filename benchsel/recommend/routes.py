"""Labelling routes: when no candidate reaches the target accuracy on the labels measured, the
candidates whose learning curves, extrapolated, reach it with more labels, and the cheapest of
them as the pick (it rests on a forecast, and says so)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchsel.recommend import explain
from benchsel.recommend.curve_fit import ImagesNeeded
from benchsel.recommend.forecast import images_needed
from benchsel.recommend.learning_curves import curves_from_trials, price_per_image
from benchsel.recommend.options import Option
from benchsel.recommend.recommendation import Recommendation
from benchsel.recommend.verdict import budget_key
from benchsel.store import TrialRecord
from benchsel.suite import Constraints, LabellingPrices


def label_routes(
    trials: Sequence[TrialRecord],
    task: str,
    c: Constraints,
    prices: LabellingPrices,
    measured: list[Option],
) -> dict[str, ImagesNeeded]:
    """name -> images needed to reach the target, for every option that
    misses only the target accuracy and whose learning curve, extrapolated, reaches it."""
    assert c.target_accuracy is not None
    short = explain.below_target  # the one reason a forecast can answer
    only_short = {
        o.name
        for o in measured
        if o.accuracy is not None
        and o.reasons == [short(o.accuracy_metric, o.accuracy, c.target_accuracy)]
    }
    out: dict[str, ImagesNeeded] = {}
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


def route_recommendation(
    task: str,
    c: Constraints,
    measured: list[Option],
    routes: dict[str, ImagesNeeded],
    notes: list[str],
) -> Recommendation:
    """No candidate reaches the target on the labels measured, but learning curves say some
    would with more: pick the cheapest route (labelling cost at the typical price, then fewer
    images), every other constraint met."""

    def cost(name: str) -> tuple[float, float]:
        need = routes[name]
        return (
            (need.cost_usd or {}).get("typical", math.inf),
            need.images if need.images is not None else math.inf,
        )

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
        "budgets_equal": len({budget_key(o) for o in ranking}) <= 1,
        "compared": order,
        "forecast": {
            n: routes[n].to_dict() | {"extrapolation": routes[n].extrapolation} for n in order
        },
    }
    return Recommendation(
        task, "measured", best, ranking, rejected, reasons, notes, c, "forecast", [], evidence
    )
