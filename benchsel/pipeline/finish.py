"""After a run: read what the store now holds, recommend per task under the suite's inputs, and
write the report where the suite says. ``benchsel run`` prints what this returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchsel.errors import BenchselError
from benchsel.recommend import Recommendation
from benchsel.recommend.engine import recommend_for_suite
from benchsel.report import write_report
from benchsel.store import ResultsStore, TrialRecord
from benchsel.suite import Suite, default_report_path


@dataclass
class Finished:
    """What the post-run step produced: the stored trials, one recommendation per task, and the
    report's path (None, with ``report_error`` saying why, when it could not be written)."""

    trials: list[TrialRecord]
    recommendations: list[Recommendation]
    report: Path | None
    report_error: str | None = None


def finish_run(store_path: Path, suite: Suite) -> Finished:
    """Recommend from the results in ``store_path`` and write the report of ``suite``; a report
    that cannot be written is said, not raised (the results are stored either way)."""
    with ResultsStore(store_path) as store:
        trials = store.trials()
    recommendations = recommend_for_suite(trials, suite)
    out = suite.report or default_report_path(suite.name)
    try:
        return Finished(trials, recommendations, write_report(store_path, out))
    except BenchselError as exc:
        return Finished(trials, recommendations, None, str(exc))
