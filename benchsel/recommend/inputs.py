"""What a recommendation is asked under: the constraints, the labelling prices, the price of a
GPU-hour and the runtime that speed limits apply to.

The run, the report and ``benchsel recommend --results`` all read them from the suite here (a
loaded suite, or the suite as a run stored it), so a budget in dollars is priced at the same
GPU-hour on every surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from benchsel.errors import BenchselError
from benchsel.suite import Constraints, CostSpec, LabellingPrices, Suite, format_validation_error


@dataclass(frozen=True)
class RecommendationInputs:
    """The arguments of :func:`benchsel.recommend.engine.recommend` besides trials and task."""

    constraints: Constraints
    prices: LabellingPrices
    gpu_hour_usd: float
    runtime: str = "pytorch"


def recommendation_inputs(
    suite: Suite | Mapping[str, Any] | None,
    constraints: Mapping[str, Any] | None = None,
    gpu_hour_usd: float | None = None,
    runtime: str = "pytorch",
) -> RecommendationInputs:
    """The inputs ``suite`` sets: a loaded :class:`Suite`, the suite JSON a run stored, or None
    (the defaults: no constraints, default prices).

    ``constraints`` (the command line's) replace the suite's, keeping the suite's margin unless
    they give one; ``gpu_hour_usd`` replaces the suite's price. Invalid values are a user error.
    """
    data: Mapping[str, Any] = (
        suite.model_dump(mode="json") if isinstance(suite, Suite) else (suite or {})
    )
    try:
        chosen = Constraints.model_validate(data.get("constraints") or {})
        if constraints is not None:
            chosen = Constraints.model_validate({"margin": chosen.margin, **constraints})
        prices = LabellingPrices.model_validate(data.get("labelling") or {})
        cost = CostSpec.model_validate(data.get("cost") or {})
    except ValidationError as exc:
        raise BenchselError(format_validation_error(exc)) from None
    hour_usd = cost.gpu_hour_usd if gpu_hour_usd is None else gpu_hour_usd
    return RecommendationInputs(chosen, prices, hour_usd, runtime)
