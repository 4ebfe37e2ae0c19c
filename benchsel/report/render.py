"""Render a results store into one self-contained, offline HTML file.

The page is put together here from its sections (:mod:`benchsel.report.sections`), whose plots
come from :mod:`benchsel.report.figures`. Every user-provided string reaches the page through
Jinja2's autoescaping or, inside figure data, HTML-escaped and JSON-encoded with ``</`` broken
up, so nothing a user wrote can run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from importlib import resources
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.recommend.engine import recommend_with
from benchsel.recommend.inputs import recommendation_inputs
from benchsel.report.figures.training import training_cost
from benchsel.report.page import PageFigures
from benchsel.report.sections.backbones import backbone_part
from benchsel.report.sections.deployment import runtime_part, tta_part
from benchsel.report.sections.tables import (
    TABLE_COLUMNS,
    conditions_rows,
    result_row,
    what_is_timed,
)
from benchsel.report.sections.task import task_section
from benchsel.store import ResultsStore, open_store


def script_json(data: Any) -> str:
    """JSON safe to embed in a <script> element (no '</', no '<!--')."""
    text = json.dumps(data, default=_default, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: Any) -> Any:
    return None if isinstance(value, float) else str(value)


def build_report(store: ResultsStore) -> str:
    """The report's HTML text."""
    import jinja2
    from plotly.offline import get_plotlyjs

    trials = store.trials()
    run = store.latest_run()
    dataset = run.dataset if run else {}
    inputs = recommendation_inputs(run.suite if run else None)
    race = dataset.get("race")
    prepared = dataset.get("prepared", {})
    tasks = sorted({t.task for t in trials})
    figs = PageFigures()
    sections = [
        task_section(trials, task, recommend_with(trials, task, inputs), prepared, race, figs)
        for task in tasks
    ]
    tta_parts = [p for task in tasks if (p := tta_part(trials, task, figs))]
    runtime_parts = [p for task in tasks if (p := runtime_part(trials, task, figs))]
    backbone_parts = [p for task in tasks if (p := backbone_part(trials, task, figs))]
    cost_plot = figs.add(
        training_cost(trials),
        "Projected hours of a full schedule on all the data, on the device each trial trained "
        "on (CPU-hours or GPU-hours, as labelled), and measured training throughput.",
    )
    template_text = (
        resources.files("benchsel.report").joinpath("templates/report.html.j2").read_text()
    )
    env_j2 = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env_j2.from_string(template_text).render(
        suite_name=run.suite_name if run else store.path.stem,
        store_path=str(store.path),
        generated=time.strftime("%Y-%m-%d %H:%M"),
        sections=sections,
        columns=TABLE_COLUMNS,
        rows=[result_row(t) for t in trials],
        failed=[t for t in trials if t.status != "ok"],
        conditions=conditions_rows(trials),
        what_timed=what_is_timed(trials),
        environment=run.environment if run else {},
        dataset=prepared,
        cost_plot=cost_plot,
        tta_parts=tta_parts,
        runtime_parts=runtime_parts,
        backbone_parts=backbone_parts,
        plotly_js=get_plotlyjs(),
        figures_json=script_json(figs.figures),
        n_trials=len(trials),
    )


def write_report(store_path: Path, out: Path) -> Path:
    """Build the report of ``store_path`` and write it atomically to ``out``."""
    with open_store(store_path, must_exist=True) as store:
        text = build_report(store)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise BenchselError(f"cannot write the report to {out}: {exc}") from None
    return out
