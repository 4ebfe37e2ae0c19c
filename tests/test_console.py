"""Terminal rendering: the exact lines each command prints for known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from benchsel.catalog import load_catalog
from benchsel.console import (
    RunProgress,
    fixed_decimals,
    flops_lines,
    forecast_text,
    label_cost_lines,
    label_issue_lines,
    recommendation_text,
    score_lines,
    summary_table,
)
from benchsel.data.labelling import LabelCost
from benchsel.evaluation.label_issues import LabelIssue
from benchsel.profiling.complexity import Complexity
from benchsel.recommend.curve_families import FAMILY
from benchsel.recommend.curve_fit import CurvePoint
from benchsel.recommend.forecast import forecast_points
from benchsel.recommend.options import Option
from benchsel.recommend.recommendation import Recommendation
from benchsel.store import TrialRecord
from benchsel.suite import Constraints


def _text(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_fixed_decimals_whatever_the_size():
    assert fixed_decimals(1234.5678) == "1234.568"
    assert fixed_decimals(0.1, 1) == "0.1"
    assert fixed_decimals(7, 0) == "7"
    assert [fixed_decimals(v) for v in (None, math.nan, math.inf, "x")] == ["-"] * 4


def _trial(arch: str, status: str, **metrics: float) -> TrialRecord:
    return TrialRecord(
        hash=arch, suite_name="s", arch_id=arch, family="yolo", task="detection",
        variant="default", loss=None, data_fraction=1.0, seed=0, spec={}, status=status,
        metrics=metrics,
    )  # fmt: skip


def test_summary_table_rows_by_accuracy():
    trials = [
        _trial("yolox-s", "ok", accuracy=0.31, latency_e2e_p50_ms=12.345, fps=81.0),
        _trial("dino-4scale-r50", "failed"),
        _trial("rtmdet-tiny", "ok", accuracy=0.4567, gflops=8.094, label_cost_usd=12.6),
    ]
    text = _text(summary_table(trials)).splitlines()
    header = [c.strip() for c in next(ln for ln in text if "trial" in ln).split("┃")[1:-1]]
    assert header[:4] == ["trial", "task", "status", "accuracy"] and header[-1] == "label $"
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in text if ln.startswith("│")]
    assert [r[0] for r in rows] == ["rtmdet-tiny", "yolox-s", "dino-4scale-r50"]
    assert rows[0] == [
        "rtmdet-tiny", "detection", "ok", "bbox_AP 0.457", "-", "-", "8.09", "-", "-", "13",
    ]  # fmt: skip
    assert rows[1][3:6] == ["bbox_AP 0.310", "12.3", "81.0"]
    assert rows[2][2:4] == ["failed", "-"]


def test_run_progress_says_each_trial_once_done():
    from types import SimpleNamespace

    console = Console(width=200, record=True, color_system=None)
    spec = SimpleNamespace(label="rtmdet-tiny @0.5", task="detection")
    ok = SimpleNamespace(status="ok", metrics={"bbox_AP": 0.41234}, wall_s=12.4, error=None)
    failed = SimpleNamespace(status="timeout", metrics={}, wall_s=0.0, error="killed\nafter 6 h")
    with RunProgress(console) as bars:
        bars.done(spec, ok)
        bars.done(spec, failed)
    text = console.export_text()
    assert "ok rtmdet-tiny @0.5 (detection) bbox_AP 0.412 in 12 s" in text
    assert "timeout rtmdet-tiny @0.5: killed\n" in text


def test_label_cost_lines():
    cost = LabelCost(
        task="detection", kind="box", unit="box", images=100, units=350,
        units_per_image=3.5, unit_price_usd={"low": 0.05, "typical": 0.1, "high": 0.2},
        cost_usd={"low": 17.5, "typical": 35.0, "high": 70.0}, projected_images=10000,
        projected_cost_usd={"low": 1750.0, "typical": 3500.0, "high": 7000.0},
    )  # fmt: skip
    assert label_cost_lines("detection", cost) == [
        "detection: 350 box labels (boxes) on 100 images, 3.5 per image",
        "  unit price  $0.05 / $0.10 / $0.20 (low / typical / high)",
        "  these labels $17.50 / $35.00 / $70.00",
        "  10,000 images $1,750.00 / $3,500.00 / $7,000.00",
    ]


def test_flops_lines_show_the_published_figures_at_the_default_size_only():
    arch = load_catalog().get("rtmdet-tiny")
    result = Complexity(4.873, 8.094, 16.188, (640, 640), 1, {"aten::foo": 2})
    lines = flops_lines(arch, None, 80, result, at_default=True)
    assert lines[0] == (
        "rtmdet-tiny at 640x640, batch 1, 80 classes: 4.87 M params, 8.09 GFLOPs (16.19 "
        "counting a multiply-add as 2)"
    )
    assert lines[2] == "  not counted (no FLOP formula): aten::foo x2"
    ref = arch.reference
    if ref.gflops is not None:
        assert lines[3].startswith(f"  published: {ref.params_m} M params, {ref.gflops} GFLOPs")
    assert len(flops_lines(arch, "r18", 80, result, at_default=False)) == 3


def test_score_lines_put_per_class_values_on_one_line():
    metrics = {"bbox_AP": 0.41234, "bbox_AP50": 0.6, "bbox_AP/cat": 0.5, "bbox_AP/dog": 0.25}
    assert score_lines(metrics) == [
        "bbox_AP          0.4123",
        "bbox_AP50        0.6000",
        "per class: cat 0.500, dog 0.250",
    ]


def test_label_issue_lines_rank_within_each_task():
    issues = [
        LabelIssue("detection", "rtmdet-tiny", "a.jpg", 1, 7, "wrong_class", 0.9, "cat", "dog"),
        LabelIssue("detection", "rtmdet-tiny", "b.jpg", 2, None, "missing", 0.5, "dog"),
        LabelIssue("semantic", "unet-s5-d16", "c.png", 3, None, "mask", 0.25),
    ]
    lines = label_issue_lines(issues)
    assert lines[0] == "detection: val labels ranked by rtmdet-tiny's predictions"
    assert (
        lines[2] == "    1   0.900  wrong_class        a.jpg                          7  cat -> dog"
    )
    assert (
        lines[3] == "    2   0.500  missing            b.jpg                          -  dog -> -"
    )
    assert lines[4] == "semantic: val labels ranked by unet-s5-d16's predictions"
    assert lines[6].startswith("    1   0.250  mask")
    assert label_issue_lines([]) == ["no label issues found"]


def test_recommendation_text():
    best = Option("rtmdet-tiny", "yolo", accuracy=0.4, accuracy_metric="bbox_AP")
    second = Option("yolox-s", "yolo", accuracy=0.3, reasons=["slower"])
    rejected = Option("dino-4scale-r50", "dino", reasons=["6.1 fps < 30 fps required", "big"])
    rec = Recommendation(
        "detection", "measured", best, [best, second], [rejected], ["it wins"], ["a note"],
        Constraints(min_fps=30), verdict="clear",
    )  # fmt: skip
    assert recommendation_text(rec).splitlines() == [
        "[detection] recommended: rtmdet-tiny (basis: measured, verdict: clear)",
        "  constraints: task: detection; at least 30 fps (batch 1, end to end)",
        "  why: it wins",
        "  - yolox-s: slower",
        "  x dino-4scale-r50: 6.1 fps < 30 fps required; big",
        "  note: a note",
    ]
    nothing = Recommendation("semantic", "measured", None, [], [], [], [], Constraints())
    assert recommendation_text(nothing) == (
        "[semantic] recommended: nothing meets the constraints (basis: measured)\n"
        "  constraints: task: semantic"
    )


def test_forecast_text_of_a_points_file(tmp_path):
    fam = FAMILY["power_law"]
    sizes = np.array([250.0, 500.0, 1000.0, 2000.0])
    truth = fam.value(np.array([0.5, 0.7, 0.15]), sizes / sizes[-1])
    points = [
        CurvePoint(n, float(y), float(y) - 0.02, float(y) + 0.02)
        for n, y in zip(sizes, truth, strict=True)
    ]
    csv = tmp_path / "p.csv"
    csv.write_text("".join(f"{p.images},{p.accuracy},{p.ci_low},{p.ci_high}\n" for p in points))
    answer = forecast_points(csv, [8000.0], None, None, None)
    lines = forecast_text([answer]).splitlines()
    assert lines[0] == f"{csv}: accuracy at 4 sizes, 250 to 2,000 labelled images"
    assert lines[1].startswith(f"  fit: {answer.fit.model}, ")
    f = answer.answer["forecasts"][0]
    assert f["images"] == 8000 and f["extrapolation"] == pytest.approx(4.0)
    assert (
        f"  at 8,000 images (4x the largest): {f['accuracy']:.3f} [{f['low']:.3f}, {f['high']:.3f}]"
    ) in lines
    b = answer.answer["fit"]["backtest"]
    assert any(
        line.startswith(
            f"  backtest: fitted without 2,000 images, it predicted {b['predicted']:.3f}"
        )
        for line in lines
    )
