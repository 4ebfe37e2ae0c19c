"""Learning-curve forecasts: fits recover known curves, inverse == forward, bands cover at their
nominal rate, unforecastable curves say why, and a published COCO learning curve is predicted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from benchsel.recommend.curve_families import FAMILY
from benchsel.recommend.curve_fit import CurvePoint, ForecastError
from benchsel.recommend.forecast import check_curve, fit_curve, images_needed
from benchsel.recommend.learning_curves import curves_from_trials, price_per_image
from benchsel.store import ResultsStore, TrialRecord
from benchsel.suite import LabellingPrices, PriceRange

# Parameters in x = n / n_max, in each family's order (nonlinear..., linear...).
TRUTH = {
    "power_law": (0.5, 0.6, 0.04),  # c, a, b: 0.15 -> 0.56
    "arctan": (2.0, 1.0, -0.4),  # t1, t2, t3: 0.10 -> 0.45
    "logarithmic": (0.05, 0.06, 0.5),  # t2, t1, t3: 0.33 -> 0.50
    "algebraic_root": (5.0, 1.5, 0.6),  # b, c, a: 0.02 -> 0.57
}
SIZES = 100.0 * 2.0 ** np.arange(8)  # 100 ... 12,800 images


def _points(family: str, sigma: float, seed: int, sizes: np.ndarray = SIZES) -> list[CurvePoint]:
    fam = FAMILY[family]
    truth = fam.value(np.array(TRUTH[family]), sizes / sizes[-1])
    noisy = truth + np.random.default_rng(seed).normal(0, sigma, len(sizes))
    half = 1.96 * sigma
    return [CurvePoint(n, y, y - half, y + half) for n, y in zip(sizes, noisy, strict=True)]


def _write_csv(path: Path, rows: Sequence[Sequence[float | None]]) -> Path:
    lines = ["images,accuracy" + (",ci_low,ci_high" if len(rows[0]) == 4 else "")]
    lines += [",".join(f"{v:g}" for v in row if v is not None) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("family", sorted(TRUTH))
def test_fit_recovers_the_parameters_of_each_family(family: str) -> None:
    fit = fit_curve(_points(family, sigma=0.003, seed=1), n_boot=50)
    got = next(f for f in fit.fits if f.family.name == family)
    np.testing.assert_allclose(got.params, TRUTH[family], rtol=0.15, atol=0.01)
    # the backtest picks the family the data came from, or one indistinguishable from it
    assert fit.backtest is not None and abs(fit.backtest.error) < 0.02
    assert got.weight > 0.2


def test_inverse_agrees_with_forward() -> None:
    for family in TRUTH:
        fit = fit_curve(_points(family, sigma=0.003, seed=2), n_boot=100)
        top = fit.at(50 * fit.n_max).accuracy  # within the horizon past which it refuses
        for target in np.linspace(fit.sizes[0].mean + 0.02, top - 0.01, 6):
            needed = fit.images_for(float(target))
            assert needed.reachable and needed.images is not None
            assert fit.at(needed.images).accuracy == pytest.approx(target, abs=2e-3)
            assert needed.low is not None and needed.low <= needed.images
            assert needed.high is None or needed.images <= needed.high


def test_band_covers_the_truth_at_its_nominal_rate() -> None:
    """Power-law curves at 4 sizes (500-4,000 images) with sigma 0.01: the 95% band at 1,500
    images (inside the data) and 8,000 (2x past it) must hold the true expected accuracy about
    95% of the time."""
    fam = FAMILY["power_law"]
    truth_params = np.array(TRUTH["power_law"])
    sizes = np.array([500.0, 1000.0, 2000.0, 4000.0])
    at = (1500.0, 8000.0)
    truth = [float(fam.value(truth_params, np.array([n / 4000]))[0]) for n in at]
    rng = np.random.default_rng(0)
    replicates, hits = 100, 0
    for r in range(replicates):
        clean = fam.value(truth_params, sizes / 4000)
        ys = clean + rng.normal(0, 0.01, len(sizes))
        fit = fit_curve(
            [CurvePoint(n, y, y - 0.0196, y + 0.0196) for n, y in zip(sizes, ys, strict=True)],
            n_boot=100,
            seed=r,
        )
        for n, true in zip(at, truth, strict=True):
            f = fit.at(n)
            hits += f.low <= true <= f.high
    rate = hits / (2 * replicates)
    # Monte Carlo: 100 replicates, standard error 0.022 at 0.95; measured 0.975
    assert 0.885 <= rate <= 0.995, rate


def test_seeds_are_pooled_and_their_spread_widens_the_band() -> None:
    one = _points("power_law", 0.003, seed=3, sizes=SIZES[:4])
    spread = [
        CurvePoint(p.images, p.accuracy + d, p.ci_low, p.ci_high)
        for p in one
        for d in (-0.01, 0.01)
    ]
    narrow, wide = (
        fit_curve(one, n_boot=200).at(2 * SIZES[3]),
        fit_curve(spread, n_boot=200).at(2 * SIZES[3]),
    )
    assert wide.high - wide.low > 1.5 * (narrow.high - narrow.low)
    assert wide.accuracy == pytest.approx(narrow.accuracy, abs=0.02)


@pytest.mark.parametrize(
    ("ys", "words"),
    [
        ((0.30, 0.40), "Run 1 more data fraction"),
        ((0.40, 0.402, 0.399, 0.401), "flat"),
        ((0.50, 0.45, 0.40, 0.35), "falls"),
    ],
)
def test_unforecastable_curves_say_why(ys: tuple[float, ...], words: str) -> None:
    points = [CurvePoint(100.0 * 2**i, y, y - 0.01, y + 0.01) for i, y in enumerate(ys)]
    assert words in (check_curve(points) or "")
    with pytest.raises(ForecastError, match=words):
        fit_curve(points)
    assert images_needed(points, 0.6) is None


def test_target_above_the_asymptote_is_not_reachable() -> None:
    fit = fit_curve(_points("power_law", 0.003, seed=4), n_boot=100)
    needed = fit.images_for(0.9)
    assert not needed.reachable and needed.images is None
    assert "not reachable with this architecture on this curve" in needed.message
    assert re.search(r"levels off at 0\.(59|60)", needed.message), needed.message


def test_cost_counts_only_the_images_still_to_label() -> None:
    points = _points("power_law", 0.003, seed=5)
    price = price_per_image(LabellingPrices(), "detection", units_per_image=4.0)
    assert price == PriceRange(low=0.2, typical=0.4, high=0.8)
    needed = images_needed(points, 0.565, price, labelled_now=12_800)
    assert needed is not None and needed.images is not None and needed.cost_usd is not None
    extra = needed.images - 12_800
    assert needed.cost_usd["typical"] == pytest.approx(0.4 * extra, abs=0.5)
    assert needed.cost_usd["low"] <= needed.cost_usd["typical"] <= needed.cost_usd["high"]
    already = images_needed(points, 0.3, price, labelled_now=12_800)
    assert already is not None and already.cost_usd == {"low": 0.0, "typical": 0.0, "high": 0.0}


def _trial(arch: str, fraction: float, seed: int, acc: float, images: float) -> TrialRecord:
    return TrialRecord(
        hash=f"{arch}-{fraction}-{seed}",
        suite_name="lc",
        arch_id=arch,
        family="yolo",
        task="detection",
        variant="default",
        loss=None,
        data_fraction=fraction,
        seed=seed,
        spec={},
        status="ok",
        metrics={
            "accuracy": acc,
            "accuracy_ci_low": acc - 0.02,
            "accuracy_ci_high": acc + 0.02,
            "labelled_images": images,
            "label_units": 3.0 * images,
        },
    )


def _store(path: Path) -> Path:
    fam = FAMILY["power_law"]
    with ResultsStore(path) as store:
        store.start_run(
            "lc", {"labelling": {"box": {"low": 0.1, "typical": 0.2, "high": 0.4}}}, {}, {}
        )
        for i, fraction in enumerate((0.125, 0.25, 0.5, 1.0)):
            images = 2000 * fraction
            acc = float(fam.value(np.array([0.5, 0.7, 0.15]), np.array([fraction]))[0])
            for seed in (0, 1):
                store.save_trial(
                    _trial("rtmdet-tiny", fraction, seed, acc + 0.005 * (seed - 0.5), images)
                )
            store.save_trial(_trial("yolox-tiny", fraction, 0, 0.3 + 0.001 * i, images))
    return path


def test_curves_from_trials_pool_seeds_per_fraction(tmp_path: Path) -> None:
    with ResultsStore(_store(tmp_path / "r.sqlite")) as store:
        curves = curves_from_trials(store.trials(), "detection")
    by_id = {c.id: c for c in curves}
    assert sorted(by_id) == ["rtmdet-tiny", "yolox-tiny"]
    rt = by_id["rtmdet-tiny"]
    assert rt.metric == "bbox_AP" and rt.units_per_image == pytest.approx(3.0)
    assert len(rt.points) == 8 and rt.labelled_images == 2000
    assert len(fit_curve(rt.points, n_boot=50).sizes) == 4


def test_curves_from_trials_include_richer_models_on_the_simpler_metric() -> None:
    trials = []
    for fraction in (0.25, 0.5, 1.0):
        t = _trial("mask-rcnn-r50", fraction, 0, 0.9, 400 * fraction)
        metrics = {**t.metrics, "bbox_AP": 0.2 + 0.1 * fraction, "bbox_AP_ci_low": 0.1}
        trials.append(TrialRecord(**{**t.__dict__, "task": "instance", "metrics": metrics}))
    (curve,) = curves_from_trials(trials, "detection")
    assert curve.name == "mask-rcnn-r50 (instance model)" and curve.metric == "bbox_AP"
    assert [p.accuracy for p in curve.points] == pytest.approx([0.225, 0.25, 0.3])
    assert curve.points[0].ci_high is None  # an interval needs both ends
    assert [c.metric for c in curves_from_trials(trials, "instance")] == ["segm_AP"]


def test_cli_results_answers_per_candidate(benchsel, tmp_path: Path) -> None:
    res = benchsel(
        "forecast", "--results", str(_store(tmp_path / "r.sqlite")), "--target", "0.6", "--json"
    )
    assert res.code == 0, res.output
    answers = {a["option"]: a for a in res.report()}
    rt = answers["rtmdet-tiny"]
    assert set(rt) == {"option", "task", "metric", "fit", "forecasts", "images_needed", "warnings"}
    assert set(rt["fit"]) == {"model", "params", "backtest"}
    assert set(rt["fit"]["backtest"]) == {"predicted", "measured", "error"}
    assert [f["extrapolation"] for f in rt["forecasts"]] == [2.0, 4.0]
    needed = rt["images_needed"]
    assert needed["target"] == 0.6 and needed["images"] > 2000
    # 3 boxes per image at the suite's $0.20 a box, for the images past the 2,000 labelled
    assert needed["cost_usd"]["typical"] == pytest.approx(0.6 * (needed["images"] - 2000), abs=1)
    assert answers["yolox-tiny"]["fit"] is None
    assert "flat" in answers["yolox-tiny"]["warnings"][0]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([(100, 0.3), (200, 0.4)], "this curve has 2. Run 1 more data fraction"),
        ([(100, 0.40), (200, 0.401), (400, 0.399), (800, 0.40)], "the learning curve is flat"),
        ([(100, 0.50), (200, 0.44), (400, 0.38), (800, 0.33)], "accuracy falls"),
    ],
)
def test_cli_unforecastable_curve_is_a_message_not_a_traceback(
    benchsel, tmp_path: Path, rows: list[tuple[float, float]], words: str
) -> None:
    res = benchsel("forecast", "--points", str(_write_csv(tmp_path / "c.csv", rows)))
    assert res.code == 1
    assert res.stderr.startswith("error: ") and words in res.stderr


def test_cli_target_above_the_asymptote(benchsel, tmp_path: Path) -> None:
    rows = [(p.images, p.accuracy, p.ci_low, p.ci_high) for p in _points("power_law", 0.003, 6)]
    res = benchsel(
        "forecast",
        "--points",
        str(_write_csv(tmp_path / "c.csv", rows)),
        "--target",
        "0.9",
        "--json",
    )
    assert res.code == 0, res.output
    out = res.report()
    assert out["images_needed"]["images"] is None
    assert any("not reachable with this architecture on this curve" in w for w in out["warnings"])


# Supervised Faster R-CNN R50-FPN on 0.5/1/2/5/10 % of COCO train2017 (118,287 images), AP on
# val2017, mean +- standard deviation over 5 data folds: Liu et al., "Unbiased Teacher for
# Semi-Supervised Object Detection", ICLR 2021, Table 1 (the 1-10 % row is Sohn et al.'s STAC
# baseline, arXiv:2005.04757, "23.86 at 10 %").
COCO_SUPERVISED = [(591, 6.83, 0.15), (1183, 9.05, 0.16), (2366, 12.70, 0.15), (5914, 18.47, 0.22)]
COCO_10PCT = (11829, 23.86, 0.81)


def test_cli_published_coco_curve_predicts_its_next_size(benchsel, tmp_path: Path) -> None:
    rows = [
        (n, ap / 100, (ap - 1.96 * sd) / 100, (ap + 1.96 * sd) / 100)
        for n, ap, sd in COCO_SUPERVISED
    ]
    csv = _write_csv(tmp_path / "coco.csv", rows)
    res = benchsel("forecast", "--points", str(csv), "--at", "11829", "--at", "118280", "--json")
    assert res.code == 0, res.output
    out = res.report()
    next_size, twenty = out["forecasts"]
    measured, spread = COCO_10PCT[1] / 100, COCO_10PCT[2] / 100
    assert next_size["extrapolation"] == 2.0
    # within the paper's fold-to-fold spread (2 standard deviations), and inside the band
    assert abs(next_size["accuracy"] - measured) <= 2 * spread, next_size
    assert next_size["low"] <= measured <= next_size["high"]
    assert out["fit"]["backtest"]["error"] == pytest.approx(0, abs=0.01)
    assert twenty["extrapolation"] == 20.0
    assert any("extrapolation" in w and "20x" in w for w in out["warnings"])
    assert not any("extrapolation" in w and "2x" in w for w in out["warnings"])


def test_report_learning_curve_shows_forecast_band_target_and_backtest(tmp_path: Path) -> None:
    from benchsel.report.figures.learning import learning_curves

    with ResultsStore(_store(tmp_path / "r.sqlite")) as store:
        fig = learning_curves(store.trials(), "detection", target=0.6)
    assert fig is not None
    names = [t.get("name", "") for t in fig["data"]]
    assert "rtmdet-tiny: power_law fit" in names or any("fit" in n for n in names)
    assert any(t.get("fill") == "tonexty" for t in fig["data"])  # the band
    marker = next(t for t in fig["data"] if t.get("marker", {}).get("symbol") == "x")
    assert marker["y"] == [0.6] and marker["x"][0] > 2000
    assert fig["layout"]["shapes"][0]["y0"] == 0.6
    fitted = next(t for t in fig["data"] if "fit" in t.get("name", ""))
    assert fitted["x"][-1] >= marker["x"][0]  # drawn out to the target
    text = fig["layout"]["annotations"][0]["text"]
    assert "rtmdet-tiny" in text and "error" in text and "yolox-tiny: no forecast" in text
