"""A fitted learning curve: accuracy at any number of labelled images (forward) and the images a
target accuracy needs (inverse), each with its 95% band.

Horizons. The backtest checks one step of about 2x; past 4x the largest measured size its
evidence no longer reaches, so the band is *widened* to the envelope of all four families' bands
(not refused: the envelope, clipped to the metric's 0-1 range, is still informative and says how
much the families disagree). An images-needed answer past 100x is refused as not reachable on
this curve, like a target above the fitted asymptote.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from benchsel.errors import BenchselError
from benchsel.recommend.curve_families import FamilyFit

if TYPE_CHECKING:
    from benchsel.suite import PriceRange


Z95 = 1.959963984540054
WIDEN_PAST = 4.0  # extrapolation factor past which the band becomes the families' envelope
REFUSE_PAST = 100.0  # images-needed past this factor of the largest size: not reachable


class ForecastError(BenchselError):
    """The curve cannot be forecast (too few sizes, flat, decreasing): the message says why."""


@dataclass(frozen=True)
class CurvePoint:
    """One measured size: accuracy (0-1) with its 95% interval, one row per seed."""

    images: float
    accuracy: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class PooledSize:
    images: float
    mean: float
    sigma: float  # standard error of the mean: validation images plus seed spread
    val_sigma: float  # the validation images' part (shared by the seeds)
    seeds: tuple[float, ...]
    has_interval: bool


@dataclass(frozen=True)
class Backtest:
    """Fit on all but the largest size, predict it."""

    images: float
    predicted: float
    measured: float
    error: float  # predicted - measured

    def to_dict(self) -> dict[str, float]:
        return {"predicted": self.predicted, "measured": self.measured, "error": self.error}


@dataclass(frozen=True)
class Forecast:
    """Expected accuracy at ``images`` with its 95% band; ``extrapolation`` = images / largest."""

    images: float
    accuracy: float
    low: float
    high: float
    extrapolation: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class ImagesNeeded:
    """Images needed to reach ``target`` with a 95% band, and the cost of labelling the ones not
    labelled yet (low / typical / high unit price at the expected images). ``images`` is None
    when the target is not reachable on this curve; ``high`` is None when the band has no upper
    end (some plausible fits never reach the target)."""

    target: float
    images: float | None
    low: float | None
    high: float | None
    cost_usd: dict[str, float] | None
    extrapolation: float | None
    reachable: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "images": self.images,
            "low": self.low,
            "high": self.high,
            "cost_usd": self.cost_usd,
        }


@dataclass
class CurveFit:
    """A learning curve fitted by every family; ``model`` is the one that forecasts."""

    sizes: list[PooledSize]
    fits: list[FamilyFit]
    model: str
    backtest: Backtest | None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_max(self) -> float:
        return self.sizes[-1].images

    @property
    def chosen(self) -> FamilyFit:
        return next(f for f in self.fits if f.family.name == self.model)

    @property
    def params(self) -> dict[str, float]:
        return self.chosen.family.raw_params(self.chosen.params, self.n_max)

    @property
    def asymptote(self) -> float:
        return float(self.chosen.family.asymptote(self.chosen.params))

    def family_lines(self) -> list[str]:
        """One line per family: parameters, asymptote, backtest prediction and weight."""
        lines = []
        for f in self.fits:
            raw = f.family.raw_params(f.params, self.n_max)
            asym = float(f.family.asymptote(f.params))
            text = f"{f.family.name} ({f.family.formula}): " + ", ".join(
                f"{k}={v:.4g}" for k, v in raw.items()
            )
            text += f"; levels off at {asym:.3f}" if asym <= 1 else "; no ceiling below 1.0"
            if f.backtest_predicted is not None and self.backtest is not None:
                err = f.backtest_predicted - self.backtest.measured
                text += f"; backtest {f.backtest_predicted:.3f} (error {err:+.3f})"
            lines.append(text + f"; weight {f.weight:.2f}")
        return lines

    # -- forward

    def _values(self, x: float) -> list[np.ndarray]:
        return [np.clip(f.family.value(f.draws, np.array([x]))[:, 0], 0.0, 1.0) for f in self.fits]

    def at(self, images: float) -> Forecast:
        """Expected accuracy at ``images`` labelled images, with its 95% band."""
        if not (math.isfinite(images) and images > 0):
            raise ForecastError(f"--at needs a positive number of images, not {images:g}")
        x = images / self.n_max
        point = float(np.clip(self.chosen.family.value(self.chosen.params, np.array([x]))[0], 0, 1))
        values = self._values(x)
        low, high = _band(values, [f.weight for f in self.fits], envelope=x > WIDEN_PAST)
        return Forecast(
            float(images),
            point,
            min(low, point),
            max(high, point),
            round(float(images) / self.n_max, 3),
        )

    def curve(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The forecast and its band at each of ``images`` (for plots)."""
        rows = [self.at(float(n)) for n in images]
        return (
            np.array([r.accuracy for r in rows]),
            np.array([r.low for r in rows]),
            np.array([r.high for r in rows]),
        )

    # -- inverse

    def images_for(
        self,
        target: float,
        price_per_image: PriceRange | None = None,
        labelled_now: float | None = None,
    ) -> ImagesNeeded:
        """Images needed to reach ``target``, its band and the cost of the labels still to buy."""
        if not 0 < target <= 1:
            raise ForecastError(f"--target is an accuracy in the metric's 0-1 units, not {target}")
        now = self.n_max if labelled_now is None else float(labelled_now)
        fam, p = self.chosen.family, self.chosen.params
        point = float(fam.inverse(p, target)) * self.n_max
        asym = self.asymptote
        per_family = [f.family.inverse(f.draws, target) * self.n_max for f in self.fits]
        weights = [f.weight for f in self.fits]
        unreachable = not math.isfinite(point) or point > REFUSE_PAST * self.n_max
        envelope = unreachable or point > WIDEN_PAST * self.n_max
        low, high = _band(per_family, weights, envelope)

        def finite(v: float) -> float | None:
            return round(v) if math.isfinite(v) else None

        if unreachable:
            if not math.isfinite(point) and math.isfinite(asym) and asym <= target:
                why = f"the fitted {fam.name} levels off at {asym:.3f}"
            elif not math.isfinite(point):
                why = f"the fitted {fam.name} does not rise to it"
            else:
                why = (
                    f"the fitted {fam.name} would need about {point:,.0f} images, more than "
                    f"{REFUSE_PAST:g}x the largest measured size ({self.n_max:,.0f}), where no fit "
                    "of this curve can be trusted"
                )
            message = f"{target:g} is not reachable with this architecture on this curve: {why}"
            if finite(low) is not None:
                message += (
                    f" (the most optimistic 2.5% of plausible fits reach it at {low:,.0f} images "
                    "or more)"
                )
            return ImagesNeeded(target, None, finite(low), None, None, None, False, message)
        low, high = min(low, point), max(high, point)
        extra = max(0.0, point - now)
        cost = None
        if price_per_image is not None:
            cost = {
                "low": round(price_per_image.low * extra, 2),
                "typical": round(price_per_image.typical * extra, 2),
                "high": round(price_per_image.high * extra, 2),
            }
        factor = point / self.n_max
        if point <= now:
            message = f"{target:g} is reached at about {point:,.0f} images, already labelled"
        else:
            band = f"[{low:,.0f}, {high:,.0f}]" if math.isfinite(high) else f"[{low:,.0f}, ?]"
            message = f"{target:g} at about {point:,.0f} images {band}, {extra:,.0f} more"
            if cost is not None:
                message += f" (${cost['typical']:,.0f}, ${cost['low']:,.0f}-${cost['high']:,.0f})"
        if factor > WIDEN_PAST:
            message += f"; extrapolation {factor:.1f}x past the largest measured size"
        return ImagesNeeded(
            target, round(point), finite(low), finite(high), cost, round(factor, 3), True, message
        )


def _weighted_quantiles(
    values: list[np.ndarray], weights: list[float], qs: tuple[float, float]
) -> tuple[float, float]:
    """Quantiles of the mixture of ``values`` (one array per family) at ``weights``."""
    v = np.concatenate(values)
    w = np.concatenate(
        [np.full(len(a), wt / len(a)) for a, wt in zip(values, weights, strict=True)]
    )
    v = np.where(np.isnan(v), np.inf, v)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order]) / np.sum(w)
    at = np.minimum(np.searchsorted(cum, np.asarray(qs)), len(v) - 1)
    low, high = v[order][at]
    return float(low), float(high)


def _band(values: list[np.ndarray], weights: list[float], envelope: bool) -> tuple[float, float]:
    """95% band: the weighted mixture of the families' replicates, or (past the horizon the
    backtest covers) the envelope of every family's own band."""
    if not envelope:
        return _weighted_quantiles(values, weights, (0.025, 0.975))
    bands = [_weighted_quantiles([v], [1.0], (0.025, 0.975)) for v in values]
    return min(b[0] for b in bands), max(b[1] for b in bands)
