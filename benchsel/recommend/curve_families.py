"""The four learning-curve families and how each is fitted.

The families are those compared by Mahmood et al., "How Much More Data Do I Need? Estimating
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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


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
class FamilyFit:
    family: Family
    params: np.ndarray  # (3,) in x
    draws: np.ndarray  # (B, 3) in x
    backtest_predicted: float | None = None
    backtest_sd: float | None = None
    weight: float = 0.0


def fit_family(
    fam: Family, x: np.ndarray, y: np.ndarray, w: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    grid = _grid_fit(fam, x, np.column_stack([y, ys]), w)
    return _refine(fam, x, y, w, grid[0]), grid[1:]
