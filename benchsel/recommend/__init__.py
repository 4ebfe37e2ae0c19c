"""Recommendation: from stored results (or the prior) and the user's constraints to one pick.

inputs (constraints, prices, runtime, read from a suite) -> options (candidates from
measurements or published numbers) -> engine (filter on the constraints, rank) -> verdict (how
sure the pick is), or routes (more labels to a target accuracy), or prior (the decision table,
before anything is measured) -> a Recommendation. explain and explain_verdict hold the words;
forecast (with curve_families, curve_fit, learning_curves) the learning-curve forecasts;
evidence the resampling behind every interval.
"""

from benchsel.recommend.engine import recommend
from benchsel.recommend.options import Option
from benchsel.recommend.recommendation import Recommendation

__all__ = ["Option", "Recommendation", "recommend"]
