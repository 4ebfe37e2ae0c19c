"""Recommendation: from stored results (or the prior) and the user's constraints to one pick.

options (candidates from measurements or published numbers) -> engine (filter, rank, decide)
-> explain (the words); prior holds the decision table used before anything is measured.
"""

from benchsel.recommend.engine import Recommendation, recommend
from benchsel.recommend.explain import render_text
from benchsel.recommend.options import Option

__all__ = ["Option", "Recommendation", "recommend", "render_text"]
