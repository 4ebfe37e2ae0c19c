"""Learning-curve forecasts: accuracy against labelled images, fitted, extrapolated with honest
bands, and turned into the images (and labelling dollars) a target accuracy needs.

The families and their fitting are in :mod:`.curve_families`, the fitted curve's forward and
inverse answers in :mod:`.curve_fit`, curves read from stored trials in :mod:`.learning_curves`.

Choice and bands. With 4 or more sizes each family is backtested (fitted without the largest
size, asked to predict it); the family with the smallest error gives the forecast, and the band
is a mixture of every family's bootstrap replicates weighted by the likelihood of its backtest
error (so a family the curve refutes drops out, one it cannot tell apart stays in). With 3 sizes
there is no backtest: the power law gives the forecast and all families weigh equally. Bootstrap
replicates draw each size's accuracy within its interval (seeds resampled, plus the validation
images' own uncertainty) and refit.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchsel.recommend.curve_families import FAMILIES, FamilyFit, fit_family
from benchsel.recommend.curve_fit import (
    WIDEN_PAST,
    Z95,
    Backtest,
    CurveFit,
    CurvePoint,
    ForecastError,
    ImagesNeeded,
    PooledSize,
)
from benchsel.recommend.learning_curves import curves_from_trials, price_per_image
from benchsel.suite import LabellingPrices
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.store import TrialRecord
    from benchsel.suite import PriceRange


DEFAULT_SIGMA = 0.01  # standard error assumed for a point given without an interval
MIN_SIGMA = 0.002
BOOTSTRAP = 400
WEIGHT_FLOOR = 0.05  # least weight of a family in the band: one backtest point is weak evidence


def _sizes(points: Sequence[CurvePoint]) -> list[PooledSize]:
    """Pool the points by size: mean over seeds, variance = validation part + seed spread / k."""
    by_size: dict[float, list[CurvePoint]] = defaultdict(list)
    for p in points:
        if not (math.isfinite(p.images) and p.images > 0 and math.isfinite(p.accuracy)):
            raise ForecastError(f"a learning-curve point needs images > 0 and an accuracy: {p}")
        by_size[float(p.images)].append(p)
    out = []
    for images in sorted(by_size):
        rows = by_size[images]
        ys = np.array([p.accuracy for p in rows], dtype=float)
        sig = []
        for p in rows:
            if p.ci_low is not None and p.ci_high is not None and p.ci_high >= p.ci_low:
                sig.append((p.ci_high - p.ci_low) / (2 * Z95))
        has_interval = len(sig) == len(rows)
        val = float(np.sqrt(np.mean(np.square(sig)))) if has_interval else DEFAULT_SIGMA
        val = max(val, MIN_SIGMA)
        seed_var = float(np.var(ys, ddof=1)) / len(ys) if len(ys) > 1 else 0.0
        out.append(
            PooledSize(
                images,
                float(ys.mean()),
                math.sqrt(val**2 + seed_var),
                val,
                tuple(float(y) for y in ys),
                has_interval,
            )
        )
    return out


def _draws(sizes: Sequence[PooledSize], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the curve, shape (sizes, n_boot): seeds resampled with
    replacement, then each size moved within its validation interval."""
    out = np.empty((len(sizes), n_boot))
    for i, s in enumerate(sizes):
        seeds = np.asarray(s.seeds)
        if len(seeds) > 1:
            pick = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
            centre = seeds[pick].mean(axis=1)
        else:
            centre = np.full(n_boot, s.mean)
        out[i] = centre + rng.normal(0.0, s.val_sigma, n_boot)
    return out


def check_curve(points: Sequence[CurvePoint]) -> str | None:
    """Why ``points`` cannot be forecast (fewer than 3 sizes, flat, decreasing), or None."""
    try:
        _checked(_sizes(points))
    except ForecastError as exc:
        return str(exc)
    return None


def _checked(sizes: list[PooledSize]) -> None:
    if len(sizes) < 3:
        missing = 3 - len(sizes)
        raise ForecastError(
            f"a forecast needs accuracy at 3 or more data sizes; this curve has {len(sizes)}. "
            f"Run {missing} more data fraction{'s' if missing > 1 else ''} (4 also give a "
            "backtest), e.g. training.data_fractions: [0.125, 0.25, 0.5, 1.0]"
        )
    logn = np.log([s.images for s in sizes])
    y = np.array([s.mean for s in sizes])
    w = 1 / np.array([s.sigma for s in sizes]) ** 2
    centred = logn - np.average(logn, weights=w)
    slope = float(np.sum(w * centred * y) / np.sum(w * centred**2))
    se = float(1 / math.sqrt(np.sum(w * centred**2)))
    first, last = sizes[0], sizes[-1]
    span = f"{first.mean:.3f} at {first.images:,.0f} images, {last.mean:.3f} at {last.images:,.0f}"
    if slope < -2 * se:
        raise ForecastError(
            f"accuracy falls as labelled images grow ({span}; {slope * math.log(2):+.3f} per "
            "doubling): no learning curve to extrapolate. With a fixed number "
            "of iterations a larger fraction gets fewer epochs; train every fraction to "
            "convergence (training.epochs) and check the larger subsets' labels"
        )
    if slope < 2 * se:
        raise ForecastError(
            f"the learning curve is flat: accuracy does not rise beyond its uncertainty ({span}; "
            f"slope {slope * math.log(2):+.3f} per doubling, 95% interval "
            f"+-{2 * se * math.log(2):.3f}). More images of the same kind will not measurably "
            "raise it: look at the model, its schedule or the labels instead"
        )


def fit_curve(points: Sequence[CurvePoint], n_boot: int = BOOTSTRAP, seed: int = 0) -> CurveFit:
    """Fit every family to ``points``, choose by backtest, keep bootstrap replicates for bands.

    Raises ForecastError when the curve has fewer than 3 sizes, is flat or decreases."""
    sizes = _sizes(points)
    _checked(sizes)
    rng = np.random.default_rng(seed)
    warnings: list[str] = []
    n_max = sizes[-1].images
    x = np.array([s.images for s in sizes]) / n_max
    y = np.array([s.mean for s in sizes])
    w = 1 / np.array([s.sigma for s in sizes]) ** 2
    if not all(s.has_interval for s in sizes):
        warnings.append(
            f"points without an interval are taken as +-{Z95 * DEFAULT_SIGMA:.3f} (95%); give "
            "ci_low and ci_high for bands that reflect the measurement"
        )
    ys = _draws(sizes, n_boot, rng)
    fits = []
    for fam in FAMILIES:
        params, draws = fit_family(fam, x, y, w, ys)
        fits.append(FamilyFit(fam, params, draws))
    backtest = None
    if len(sizes) >= 4:
        held = sizes[-1]
        xb = np.array([s.images for s in sizes[:-1]]) / sizes[-2].images
        x_held = held.images / sizes[-2].images
        like = []
        for f in fits:
            p, d = fit_family(f.family, xb, y[:-1], w[:-1], ys[:-1])
            f.backtest_predicted = float(np.clip(f.family.value(p, np.array([x_held]))[0], 0, 1))
            preds = np.clip(f.family.value(d, np.array([x_held]))[:, 0], 0, 1)
            f.backtest_sd = float(np.std(preds))
            s2 = held.sigma**2 + f.backtest_sd**2
            like.append(-0.5 * (f.backtest_predicted - held.mean) ** 2 / s2 - 0.5 * math.log(s2))
        weights = np.exp(np.array(like) - max(like))
        weights = (1 - WEIGHT_FLOOR * len(fits)) * weights / weights.sum() + WEIGHT_FLOOR
        for f, wt in zip(fits, weights, strict=True):
            f.weight = float(wt)
        best = min(fits, key=lambda f: abs((f.backtest_predicted or 0.0) - held.mean))
        model = best.family.name
        pred = best.backtest_predicted or 0.0
        backtest = Backtest(held.images, pred, held.mean, pred - held.mean)
    else:
        for f in fits:
            f.weight = 1 / len(fits)
        model = "power_law"
        warnings.append(
            "3 data sizes: no backtest is possible, so the power law forecasts and the band "
            "spans all four families equally; run a 4th data fraction to choose by evidence"
        )
    return CurveFit(sizes, fits, model, backtest, warnings)


def images_needed(
    points: Sequence[CurvePoint],
    target: float,
    price_per_image: PriceRange | None = None,
    labelled_now: float | None = None,
    n_boot: int = BOOTSTRAP,
) -> ImagesNeeded | None:
    """Images needed to reach ``target`` on this learning curve, its band and the labelling cost
    past ``labelled_now`` (default: the largest measured size). None when the curve cannot be
    forecast; ``check_curve(points)`` says why. ``reachable`` is False (``images`` None) for a
    target above what the curve levels off at."""
    try:
        fit = fit_curve(points, n_boot=n_boot)
    except ForecastError:
        return None
    return fit.images_for(target, price_per_image, labelled_now)


def forecast_report(
    fit: CurveFit,
    metric: str,
    at: Sequence[float],
    target: float | None,
    price: PriceRange | None,
    labelled_now: float | None = None,
) -> dict[str, Any]:
    """The ``forecast --json`` object: metric, fit, forecasts, images_needed, warnings."""
    warnings = list(fit.warnings)
    forecasts = [fit.at(n) for n in at]
    for f in forecasts:
        if f.extrapolation > WIDEN_PAST:
            warnings.append(
                f"extrapolation {f.extrapolation:.3g}x past the largest measured size "
                f"({fit.n_max:,.0f} images) at {f.images:,.0f}: the backtest only checks about "
                f"{_step(fit):.1f}x, so past {WIDEN_PAST:g}x the band is widened to the "
                "envelope of all four fit families"
            )
    needed = None
    if target is not None:
        needed = fit.images_for(target, price, labelled_now)
        if not needed.reachable or (needed.extrapolation or 0) > WIDEN_PAST:
            warnings.append(needed.message)
    return {
        "metric": metric,
        "fit": {
            "model": fit.model,
            "params": fit.params,
            "backtest": fit.backtest.to_dict() if fit.backtest else None,
        },
        "forecasts": [f.to_dict() for f in forecasts],
        "images_needed": needed.to_dict() if needed else None,
        "warnings": warnings,
    }


def _step(fit: CurveFit) -> float:
    return fit.sizes[-1].images / fit.sizes[-2].images


@dataclass
class CurveAnswer:
    """One curve's answer to ``benchsel forecast``: ``answer`` is its ``--json`` object, ``fit``
    None when the curve could not be forecast (the answer's warning says why)."""

    title: str
    fit: CurveFit | None
    answer: dict[str, Any]


def forecast_points(
    points_file: Path,
    at: Sequence[float] | None,
    target: float | None,
    task: str | None,
    units_per_image: float | None,
) -> CurveAnswer:
    """The forecast of a points file; ``task`` names the metric and prices the labels (at the
    default prices; boxes and instances also need ``units_per_image``)."""
    fit = fit_curve(read_points_csv(points_file))
    price = price_per_image(LabellingPrices(), task, units_per_image) if task else None
    metric = task_info(task).primary_metric if task else "accuracy"
    out = forecast_report(fit, metric, at or [2 * fit.n_max, 4 * fit.n_max], target, price)
    if target is not None and price is None:
        out["warnings"].append(
            "labelling cost not priced: give --task (and --units-per-image for boxes or instances)"
        )
    return CurveAnswer(str(points_file), fit, out)


def forecast_trials(
    trials: Sequence[TrialRecord],
    tasks: Sequence[str],
    at: Sequence[float] | None,
    target: float | None,
    prices: LabellingPrices,
) -> list[CurveAnswer]:
    """The forecast of every option's learning curve on each of ``tasks``, labels priced at
    ``prices``; a curve that cannot be forecast answers with why."""
    answers = []
    for task in tasks:
        for curve in curves_from_trials(trials, task):
            title = f"{curve.name} ({task})"
            try:
                fit = fit_curve(curve.points)
            except ForecastError as exc:
                failed = {
                    "option": curve.name,
                    "task": task,
                    "metric": curve.metric,
                    "fit": None,
                    "forecasts": [],
                    "images_needed": None,
                    "warnings": [str(exc)],
                }
                answers.append(CurveAnswer(title, None, failed))
                continue
            price = price_per_image(prices, task, curve.units_per_image)
            sizes = at or [2 * fit.n_max, 4 * fit.n_max]
            out = forecast_report(fit, curve.metric, sizes, target, price, curve.labelled_images)
            answers.append(CurveAnswer(title, fit, {"option": curve.name, "task": task, **out}))
    return answers


def read_points_csv(path: Any) -> list[CurvePoint]:
    """``images,accuracy[,ci_low,ci_high]`` rows (a header row is allowed; accuracy in 0-1)."""
    file = Path(path)
    if not file.is_file():
        raise ForecastError(f"points file {file} not found")
    points = []
    with file.open(newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#"):
                continue
            if lineno == 1 and not _is_number(cells[0]):
                if [c.lower() for c in cells[:2]] != ["images", "accuracy"]:
                    raise ForecastError(
                        f"{file}:1: the header must be images,accuracy[,ci_low,ci_high]"
                    )
                continue
            if len(cells) not in (2, 4) or not all(_is_number(c) for c in cells):
                raise ForecastError(
                    f"{file}:{lineno}: expected images,accuracy[,ci_low,ci_high] numbers, got "
                    f"{','.join(cells)!r}"
                )
            values = [float(c) for c in cells]
            if not 0 <= values[1] <= 1:
                raise ForecastError(
                    f"{file}:{lineno}: accuracy {values[1]:g} is outside 0-1 (give AP 0.234, "
                    "not 23.4)"
                )
            lo, hi = (values[2], values[3]) if len(values) == 4 else (None, None)
            if lo is not None and hi is not None and not lo <= values[1] <= hi:
                raise ForecastError(
                    f"{file}:{lineno}: the interval [{lo:g}, {hi:g}] must contain the accuracy"
                )
            points.append(CurvePoint(values[0], values[1], lo, hi))
    if not points:
        raise ForecastError(f"{file} has no points")
    return points


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
