"""Learning curves: accuracy against labelled images, fitted, extrapolated with honest bands, and
turned into the images (and labelling dollars) a target accuracy needs.

The fit families are those compared by Mahmood et al., "How Much More Data Do I Need? Estimating
Requirements for Downstream Tasks" (CVPR 2022), written in x = n / n_max (the largest measured
size) so that their parameters are conditioned; reported parameters are in images:

- ``power_law``: ``a - b * n**-c`` (the saturating power law; levels off at ``a``);
- ``arctan``: ``(2/pi) * arctan(t1 * pi/2 * n + t2) + t3`` (levels off at ``1 + t3``);
- ``logarithmic``: ``t1 * log(n + t2) + t3`` (never levels off);
- ``algebraic_root``: ``a * (b n) / (1 + (b n)**c)**(1/c)`` (levels off at ``a``). Mahmood et al.
  fix its initial slope at 1 per sample, which depends on the unit of n; here the slope is free
  and the offset is 0 (no labels, no accuracy), so it keeps three parameters like the others.

Each family is fitted by variable projection: a grid over its nonlinear parameters, the linear
ones solved by weighted least squares (weights 1 / variance of each point), then the best grid
point refined with ``scipy.optimize.least_squares``. The grid step is vectorised over bootstrap
replicates, so a band of 400 replicates x 4 families costs tens of milliseconds.

Choice and bands. With 4 or more sizes each family is backtested (fitted without the largest
size, asked to predict it); the family with the smallest error gives the forecast, and the band
is a mixture of every family's bootstrap replicates weighted by the likelihood of its backtest
error (so a family the curve refutes drops out, one it cannot tell apart stays in). With 3 sizes
there is no backtest: the power law gives the forecast and all families weigh equally. Bootstrap
replicates draw each size's accuracy within its interval (seeds resampled, plus the validation
images' own uncertainty) and refit.

Horizons. The backtest checks one step of about 2x; past 4x the largest measured size its
evidence no longer reaches, so the band is *widened* to the envelope of all four families' bands
(not refused: the envelope, clipped to the metric's 0-1 range, is still informative and says how
much the families disagree). An images-needed answer past 100x is refused as not reachable on
this curve, like a target above the fitted asymptote.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from benchsel.errors import BenchselError
from benchsel.formatting import finite_or_none

if TYPE_CHECKING:
    from benchsel.store import TrialRecord
    from benchsel.suite import LabellingPrices, PriceRange

Z95 = 1.959963984540054
WIDEN_PAST = 4.0  # extrapolation factor past which the band becomes the families' envelope
REFUSE_PAST = 100.0  # images-needed past this factor of the largest size: not reachable
DEFAULT_SIGMA = 0.01  # standard error assumed for a point given without an interval
MIN_SIGMA = 0.002
BOOTSTRAP = 400
WEIGHT_FLOOR = 0.05  # least weight of a family in the band: one backtest point is weak evidence


class ForecastError(BenchselError):
    """The curve cannot be forecast (too few sizes, flat, decreasing): the message says why."""


# ---------------------------------------------------------------- points


@dataclass(frozen=True)
class CurvePoint:
    """One measured size: accuracy (0-1) with its 95% interval, one row per seed."""

    images: float
    accuracy: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class _Size:
    images: float
    mean: float
    sigma: float  # standard error of the mean: validation images plus seed spread
    val_sigma: float  # the validation images' part (shared by the seeds)
    seeds: tuple[float, ...]
    has_interval: bool


def _sizes(points: Sequence[CurvePoint]) -> list[_Size]:
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
            _Size(
                images,
                float(ys.mean()),
                math.sqrt(val**2 + seed_var),
                val,
                tuple(float(y) for y in ys),
                has_interval,
            )
        )
    return out


def _draws(sizes: Sequence[_Size], n_boot: int, rng: np.random.Generator) -> np.ndarray:
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


# ---------------------------------------------------------------- families


def _power_parts(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = g[:, 0:1]
    phi = np.stack([np.ones((len(g), len(x))), -(x[None, :] ** -c)], axis=2)
    return np.zeros((len(g), len(x))), phi


def _arctan_parts(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f0 = 2 / np.pi * np.arctan(g[:, 0:1] * np.pi / 2 * x[None, :] + g[:, 1:2])
    return f0, np.ones((len(g), len(x), 1))


def _log_parts(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lg = np.log(x[None, :] + g[:, 0:1])
    return np.zeros_like(lg), np.stack([lg, np.ones_like(lg)], axis=2)


def _root_shape(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    # y / (1 + y**c)**(1/c), computed in logs so large y**c does not overflow
    return np.exp(np.log(y) - np.logaddexp(0.0, c * np.log(y)) / c)


def _root_parts(x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shape = _root_shape(g[:, 0:1] * x[None, :], g[:, 1:2])
    return np.zeros_like(shape), shape[:, :, None]


def _grid(*axes: np.ndarray) -> np.ndarray:
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


@dataclass(frozen=True)
class Family:
    """A fit family: parameters ``(nonlinear..., linear...)`` in x = n / n_max."""

    name: str
    formula: str
    nonlinear: tuple[str, ...]
    linear: tuple[str, ...]
    grid: np.ndarray = field(repr=False)
    parts: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] = field(repr=False)
    lower: tuple[float, ...] = field(repr=False)
    upper: tuple[float, ...] = field(repr=False)

    def value(self, p: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Accuracy at x for parameters ``p`` of shape (..., 3); broadcasts p against x."""
        p = np.asarray(p, dtype=float)
        x = np.asarray(x, dtype=float)
        q = [p[..., i, None] for i in range(3)]
        with np.errstate(all="ignore"):
            if self.name == "power_law":
                c, a, b = q
                return a - b * x**-c
            if self.name == "arctan":
                t1, t2, t3 = q
                return 2 / np.pi * np.arctan(t1 * np.pi / 2 * x + t2) + t3
            if self.name == "logarithmic":
                t2, t1, t3 = q
                return t1 * np.log(x + t2) + t3
            b, c, a = q
            return a * _root_shape(b * x, c)

    def asymptote(self, p: np.ndarray) -> np.ndarray:
        """The accuracy the curve levels off at (inf: it never does)."""
        p = np.asarray(p, dtype=float)
        if self.name == "power_law":
            return p[..., 1]
        if self.name == "arctan":
            return 1 + p[..., 2]
        if self.name == "logarithmic":
            return np.where(p[..., 1] > 0, np.inf, p[..., 2])
        return p[..., 2]

    def increasing(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        slope = {"power_law": p[..., 2], "arctan": p[..., 0], "logarithmic": p[..., 1]}
        return slope.get(self.name, p[..., 2]) > 0

    def inverse(self, p: np.ndarray, target: float) -> np.ndarray:
        """The x at which the curve reaches ``target`` (inf: never, on this curve)."""
        p = np.asarray(p, dtype=float)
        with np.errstate(all="ignore"):
            if self.name == "power_law":
                c, a, b = p[..., 0], p[..., 1], p[..., 2]
                x = (b / (a - target)) ** (1 / c)
            elif self.name == "arctan":
                t1, t2, t3 = p[..., 0], p[..., 1], p[..., 2]
                x = (np.tan((target - t3) * np.pi / 2) - t2) / (t1 * np.pi / 2)
                x = np.where(target - t3 < 1, x, np.inf)
            elif self.name == "logarithmic":
                t2, t1, t3 = p[..., 0], p[..., 1], p[..., 2]
                x = np.exp((target - t3) / t1) - t2
            else:
                b, c, a = p[..., 0], p[..., 1], p[..., 2]
                r = target / a
                x = np.where(
                    (r > 0) & (r < 1), r / (1 - np.clip(r, 0, 1) ** c) ** (1 / c) / b, np.inf
                )
        ok = self.increasing(p) & (self.asymptote(p) > target) & np.isfinite(x)
        return np.where(ok, np.maximum(x, 0.0), np.inf)

    def raw_params(self, p: np.ndarray, n_max: float) -> dict[str, float]:
        """Parameters in images (n), as in the formula."""
        q = [float(v) for v in p]
        if self.name == "power_law":
            c, a, b = q
            return {"a": a, "b": b * n_max**c, "c": c}
        if self.name == "arctan":
            t1, t2, t3 = q
            return {"t1": t1 / n_max, "t2": t2, "t3": t3}
        if self.name == "logarithmic":
            t2, t1, t3 = q
            return {"t1": t1, "t2": t2 * n_max, "t3": t3 - t1 * math.log(n_max)}
        b, c, a = q
        return {"a": a, "b": b / n_max, "c": c}


FAMILIES: tuple[Family, ...] = (
    Family(
        "power_law",
        "a - b * n^-c",
        ("c",),
        ("a", "b"),
        _grid(np.geomspace(0.01, 4.0, 160)),
        _power_parts,
        (1e-3, -np.inf, -np.inf),
        (10.0, np.inf, np.inf),
    ),
    Family(
        "arctan",
        "(2/pi) * arctan(t1 * pi/2 * n + t2) + t3",
        ("t1", "t2"),
        ("t3",),
        _grid(np.geomspace(0.01, 300.0, 40), np.linspace(-4.0, 4.0, 25)),
        _arctan_parts,
        (1e-6, -50.0, -np.inf),
        (1e4, 50.0, np.inf),
    ),
    Family(
        "logarithmic",
        "t1 * log(n + t2) + t3",
        ("t2",),
        ("t1", "t3"),
        _grid(np.concatenate([[0.0], np.geomspace(1e-4, 100.0, 120)])),
        _log_parts,
        (0.0, -np.inf, -np.inf),
        (1e4, np.inf, np.inf),
    ),
    Family(
        "algebraic_root",
        "a * (b n) / (1 + (b n)^c)^(1/c)",
        ("b", "c"),
        ("a",),
        _grid(np.geomspace(0.05, 300.0, 40), np.geomspace(0.1, 8.0, 25)),
        _root_parts,
        (1e-6, 0.05, -np.inf),
        (1e5, 20.0, np.inf),
    ),
)
FAMILY = {f.name: f for f in FAMILIES}


def _grid_fit(
    fam: Family, x: np.ndarray, ys: np.ndarray, w: np.ndarray, chunk: int = 128
) -> np.ndarray:
    """Best grid parameters per replicate: ys (n, B) -> params (B, 3)."""
    f0, phi = fam.parts(x, fam.grid)  # (G, n), (G, n, m)
    sw = np.sqrt(w)
    with np.errstate(all="ignore"):
        a = phi * sw[None, :, None]
        good = np.all(np.isfinite(a), axis=(1, 2)) & np.all(np.isfinite(f0), axis=1)
    grid, f0, a = fam.grid[good], f0[good], a[good]
    pinv = np.linalg.pinv(a)  # (G, m, n)
    out = np.empty((ys.shape[1], 3))
    for start in range(0, ys.shape[1], chunk):
        yb = ys[:, start : start + chunk]
        r = (yb[None, :, :] - f0[:, :, None]) * sw[None, :, None]  # (G, n, b)
        beta = pinv @ r  # (G, m, b)
        ss = np.sum((r - a @ beta) ** 2, axis=1)  # (G, b)
        best = np.argmin(ss, axis=0)
        cols = np.arange(len(best))
        out[start : start + len(best), : grid.shape[1]] = grid[best]
        out[start : start + len(best), grid.shape[1] :] = beta[best, :, cols]
    return out


def _refine(fam: Family, x: np.ndarray, y: np.ndarray, w: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Local weighted least squares from the grid's best point (kept if it does not improve)."""
    from scipy.optimize import least_squares

    sw = np.sqrt(w)
    lo, hi = np.array(fam.lower), np.array(fam.upper)

    def resid(p: np.ndarray) -> np.ndarray:
        r = (fam.value(p, x) - y) * sw
        return np.where(np.isfinite(r), r, 1e6)

    start = np.clip(p0, np.nextafter(lo, np.inf), np.nextafter(hi, -np.inf))
    try:
        sol = least_squares(resid, start, bounds=(lo, hi), method="trf", x_scale="jac")
    except (ValueError, np.linalg.LinAlgError):
        return p0
    if np.sum(resid(sol.x) ** 2) <= np.sum(resid(p0) ** 2):
        return np.asarray(sol.x, dtype=float)
    return p0


@dataclass
class _FamilyFit:
    family: Family
    params: np.ndarray  # (3,) in x
    draws: np.ndarray  # (B, 3) in x
    backtest_predicted: float | None = None
    backtest_sd: float | None = None
    weight: float = 0.0


def _fit_family(
    fam: Family, x: np.ndarray, y: np.ndarray, w: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    grid = _grid_fit(fam, x, np.column_stack([y, ys]), w)
    return _refine(fam, x, y, w, grid[0]), grid[1:]


# ---------------------------------------------------------------- the fitted curve


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

    sizes: list[_Size]
    fits: list[_FamilyFit]
    model: str
    backtest: Backtest | None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_max(self) -> float:
        return self.sizes[-1].images

    @property
    def chosen(self) -> _FamilyFit:
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


# ---------------------------------------------------------------- fitting


def check_curve(points: Sequence[CurvePoint]) -> str | None:
    """Why ``points`` cannot be forecast (fewer than 3 sizes, flat, decreasing), or None."""
    try:
        _checked(_sizes(points))
    except ForecastError as exc:
        return str(exc)
    return None


def _checked(sizes: list[_Size]) -> None:
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
        params, draws = _fit_family(fam, x, y, w, ys)
        fits.append(_FamilyFit(fam, params, draws))
    backtest = None
    if len(sizes) >= 4:
        held = sizes[-1]
        xb = np.array([s.images for s in sizes[:-1]]) / sizes[-2].images
        x_held = held.images / sizes[-2].images
        like = []
        for f in fits:
            p, d = _fit_family(f.family, xb, y[:-1], w[:-1], ys[:-1])
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


# ---------------------------------------------------------------- from stored trials


@dataclass(frozen=True)
class LearningCurve:
    """One option's measured learning curve (seeds pooled by ``fit_curve``)."""

    id: str
    variant: str
    loss: str | None
    task: str
    metric: str
    points: tuple[CurvePoint, ...]
    units_per_image: float | None  # priced labels per image (boxes, instances; 1 for masks)
    measured_task: str = ""  # the task it was trained for, when a richer one (instance for boxes)
    label: str = ""  # the candidate's name in the suite (default: id, variant, loss)

    @property
    def name(self) -> str:
        from benchsel.formatting import trial_label

        name = self.label or trial_label(self.id, self.variant, self.loss)
        if self.measured_task and self.measured_task != self.task:
            name += f" ({self.measured_task} model)"
        return name

    @property
    def labelled_images(self) -> float:
        return max(p.images for p in self.points)


def curves_from_trials(trials: Iterable[TrialRecord], task: str) -> list[LearningCurve]:
    """Each option's learning curve for ``task``: its score (the primary metric, or a richer
    task's model scored on this one, e.g. an instance model's ``bbox_AP``) with its 95% interval
    at each data fraction's ``labelled_images``, one point per ok trial (seed)."""
    from benchsel.tasks import task_info

    info = task_info(task)
    key_of: dict[str, str] = {task: "accuracy", **dict(info.shared_by)}
    groups: dict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.task in key_of and t.status == "ok":
            groups[(t.option, t.task)].append(t)
    curves = []
    for (label, measured), runs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        arch_id, variant, loss = runs[0].arch_id, runs[0].variant, runs[0].loss
        key = key_of[measured]
        points = []
        units = []
        for t in sorted(runs, key=lambda t: (t.data_fraction, t.seed)):
            images = finite_or_none(t.metrics.get("labelled_images"))
            acc = finite_or_none(t.metrics.get(key))
            if images is None or acc is None or images <= 0:
                continue
            points.append(
                CurvePoint(
                    images,
                    acc,
                    finite_or_none(t.metrics.get(f"{key}_ci_low")),
                    finite_or_none(t.metrics.get(f"{key}_ci_high")),
                )
            )
            label_units = finite_or_none(t.metrics.get("label_units"))
            if label_units is not None:
                units.append(label_units / images)
        if points:
            curves.append(
                LearningCurve(
                    arch_id,
                    variant,
                    loss,
                    task,
                    info.primary_metric,
                    tuple(points),
                    float(np.mean(units)) if units else None,
                    measured,
                    label,
                )
            )
    return curves


def price_per_image(
    prices: LabellingPrices, task: str, units_per_image: float | None
) -> PriceRange | None:
    """The labelling price of one image for ``task``: unit price x priced labels per image
    (None when a per-object task's labels per image are unknown)."""
    from benchsel.data.labelling import price_of
    from benchsel.suite import PriceRange
    from benchsel.tasks import task_info

    units = 1.0 if not task_info(task).per_object_labels else units_per_image
    if units is None:
        return None
    unit = price_of(prices, task)
    return PriceRange(low=unit.low * units, typical=unit.typical * units, high=unit.high * units)


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


# ---------------------------------------------------------------- the command's answer


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


def forecast_lines(title: str, fit: CurveFit, report: dict[str, Any]) -> list[str]:
    """The ``forecast`` command's text for one curve (``report`` from ``forecast_report``)."""
    sizes = fit.sizes
    lines = [
        f"{title}: {report['metric']} at {len(sizes)} sizes, {sizes[0].images:,.0f} to "
        f"{fit.n_max:,.0f} labelled images"
    ]
    chosen = fit.chosen.family
    params = ", ".join(f"{k}={v:.4g}" for k, v in report["fit"]["params"].items())
    asym = fit.asymptote
    level = f"levels off at {asym:.3f}" if asym <= 1 else "no ceiling below the metric's 1.0"
    lines.append(f"  fit: {chosen.name}, {chosen.formula}: {params}; {level}")
    lines += [f"    {line}" for line in fit.family_lines()]
    if fit.backtest is not None:
        b = fit.backtest
        lines.append(
            f"  backtest: fitted without {b.images:,.0f} images, it predicted {b.predicted:.3f} "
            f"there; measured {b.measured:.3f} (error {b.error:+.3f})"
        )
    for f in report["forecasts"]:
        lines.append(
            f"  at {f['images']:,.0f} images ({f['extrapolation']:.3g}x the largest): "
            f"{f['accuracy']:.3f} [{f['low']:.3f}, {f['high']:.3f}]"
        )
    if report["images_needed"] is not None:
        lines.append(f"  target {_needed_text(report['images_needed'])}")
    lines += [f"  warning: {w}" for w in report["warnings"]]
    return lines


def _needed_text(n: dict[str, Any]) -> str:
    if n["images"] is None:
        return f"{n['target']:g}: not reachable on this curve (see the warning)"
    high = f"{n['high']:,.0f}" if n["high"] is not None else "no upper end"
    text = f"{n['target']:g}: about {n['images']:,.0f} images [{n['low']:,.0f}, {high}]"
    cost = n["cost_usd"]
    if cost is not None:
        text += (
            f"; labelling the ones still missing costs ${cost['typical']:,.0f} "
            f"(${cost['low']:,.0f} to ${cost['high']:,.0f})"
        )
    return text


def _step(fit: CurveFit) -> float:
    return fit.sizes[-1].images / fit.sizes[-2].images


def read_points_csv(path: Any) -> list[CurvePoint]:
    """``images,accuracy[,ci_low,ci_high]`` rows (a header row is allowed; accuracy in 0-1)."""
    import csv
    from pathlib import Path

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
