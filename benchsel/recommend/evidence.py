"""The evidence behind a verdict: how sure we are that one architecture beats another.

Two sources of uncertainty sit between a measured score and the architecture's:

- **images**: the validation images are a sample. Each option's stored per-image states (one
  per seed) are re-scored on one shared set of bootstrap weights (images matched by id), so
  any two options can be compared resample by resample (a paired bootstrap).
- **training noise**: the same code with another seed trains a different model. With two or
  more seeds per option, the spread between them is measured and added.

With one seed the interval covers the images only, and every surface says so. With seeds, the
interval of an option's mean (or of a difference of two means) is a variance decomposition,
``V = V_images + s^2 / n`` (per option; summed over the two options of a difference), where
``V_images`` is the bootstrap variance of the seed-mean over the shared image resamples and
``s^2`` the sample variance of the seeds' scores. It is read on Student's t with Welch-
Satterthwaite degrees of freedom. For the 2-5 seeds users can afford this is the right tool:
resampling 2-5 seeds with replacement gives a bootstrap distribution with a handful of distinct
values whose variance is short by a factor (n-1)/n, which is anti-conservative exactly where it
matters, while the t interval is exact for normal seed effects and widens as it should (t with
1 degree of freedom for two seeds). ``V_images`` also holds part of the seed-by-image
interaction already counted in ``s^2``: the interval errs on the wide side. The calibration is
measured by simulation (tests/recommend/test_calibration.py; the README gives the rates).

An option with one seed compared beside options with several borrows their pooled seed variance
(``training_noise: "pooled"``): an assumption that seeds scatter alike across architectures,
said in words wherever it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from benchsel.evaluation.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    STATE_OF_METRIC,
    EvalState,
    bootstrap_weights,
    percentile_interval,
    state_from_bytes,
)
from benchsel.evaluation.semantic import SemanticEvalState

LEVEL = 0.95
# The smallest score treated as more than an untrained model's (AP and PQ of an untrained
# model are 0; a model whose interval does not clear one point has shown nothing yet).
SIGNAL_FLOOR = 0.01
DEFAULT_MARGIN = 0.01
MAX_SEEDS_ADVICE = 20  # beyond this many seeds, more seeds are not a practical answer


@dataclass(frozen=True)
class SeedNoise:
    """The training-noise variance of one option's seeds (``var`` of one seed's score)."""

    var: float
    df: float  # degrees of freedom of the estimate
    source: str  # "measured" (own seeds) | "pooled" (other options' seeds)


@dataclass
class Samples:
    """An option's per-seed scores: resampled (shared image weights) and on all images."""

    per_seed: np.ndarray  # (resamples, seeds)
    points: np.ndarray  # (seeds,) each seed's score on every image
    n_images: int
    chance: float = 0.0  # score of a model that learnt nothing (majority class for mIoU)
    images: tuple[int, ...] = ()  # the sorted image ids the weights refer to
    noise: SeedNoise | None = None  # None: one seed and nothing to borrow from

    @property
    def n_seeds(self) -> int:
        return int(self.per_seed.shape[1])

    @property
    def values(self) -> np.ndarray:
        """The seed-mean in each resample."""
        with np.errstate(all="ignore"):
            out: np.ndarray = np.nanmean(self.per_seed, axis=1)
        return out

    @property
    def mean(self) -> float:
        defined = self.points[~np.isnan(self.points)]
        return float(defined.mean()) if len(defined) else math.nan

    def own_noise(self) -> SeedNoise | None:
        """The seed variance measured on this option's own seeds (two or more)."""
        defined = self.points[~np.isnan(self.points)]
        if len(defined) < 2:
            return None
        return SeedNoise(float(np.var(defined, ddof=1)), len(defined) - 1.0, "measured")

    def interval(self) -> tuple[float, float]:
        """95% interval of the option's mean score: images only with one seed (percentile
        bootstrap), images and training noise with seeds (t on the variance decomposition)."""
        if self.noise is None:
            return percentile_interval(self.values, LEVEL, len(self.values))
        parts = [(_image_var(self.values), self.n_images - 1.0)]
        parts.append((self.noise.var / self.n_seeds, self.noise.df))
        lo, hi = _t_interval(self.mean, parts)
        return max(lo, 0.0), min(hi, 1.0)  # the metrics (AP, PQ, mIoU) live in [0, 1]


@dataclass(frozen=True)
class Comparison:
    """Option a minus option b on the same resamples (and seeds, when measured)."""

    difference: float
    ci_low: float
    ci_high: float
    prob_a_better: float
    n_images: int
    seeds: tuple[int, int] = (1, 1)
    training_noise: str = "not_measured"  # measured | pooled | not_measured
    image_var: float = math.nan  # variance of the difference from the images
    seed_var: tuple[float, float] = (math.nan, math.nan)  # one seed's variance, a and b
    seed_df: tuple[float, float] = (math.nan, math.nan)

    @property
    def a_clearly_better(self) -> bool:
        return self.ci_low > 0

    def within(self, margin: float) -> bool:
        """The whole interval lies inside ``±margin``: equivalent for the user's purpose."""
        return -margin < self.ci_low and self.ci_high < margin

    def half_width(self, seeds: int | None = None, image_factor: float = 1.0) -> float:
        """The interval's half width with ``seeds`` per option and ``image_factor`` times the
        validation images (how it narrows: the images' variance shrinks as 1/images, the
        seeds' as 1/seeds)."""
        parts = [(self.image_var / image_factor, image_factor * self.n_images - 1.0)]
        for var, df, now in zip(self.seed_var, self.seed_df, self.seeds, strict=True):
            if math.isnan(var):
                continue
            n = now if seeds is None else max(seeds, now)
            parts.append((var / n, df if seeds is None else max(df, n - 1.0)))
        return _t_half_width(parts)


@dataclass
class Separation:
    """What would settle an undecided comparison: more seeds, or more validation images."""

    seeds: int | None = None  # seeds per option that would separate or show equivalence
    image_factor: float | None = None  # times today's validation images
    goal: str = "separate"  # separate | equivalent
    needs_seeds_first: bool = False  # one seed each: training noise is unknown


def _image_var(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return float(np.var(defined, ddof=1)) if len(defined) >= 2 else math.nan


def _t_half_width(parts: list[tuple[float, float]], level: float = LEVEL) -> float:
    """Half width of a t interval for a sum of variance components ``(var, df)``, with
    Welch-Satterthwaite degrees of freedom."""
    total = sum(v for v, _ in parts)
    if not math.isfinite(total):
        return math.nan
    if total <= 0:
        return 0.0
    denom = sum(v * v / df for v, df in parts if df > 0 and v > 0)
    df = total * total / denom if denom > 0 else math.inf
    quantile = (
        stats.t.ppf((1 + level) / 2, df) if math.isfinite(df) else stats.norm.ppf((1 + level) / 2)
    )
    return float(quantile * math.sqrt(total))


def _t_interval(center: float, parts: list[tuple[float, float]]) -> tuple[float, float]:
    half = _t_half_width(parts)
    if math.isnan(center) or math.isnan(half):
        return math.nan, math.nan
    return center - half, center + half


def _states(blobs: list[bytes]) -> list[EvalState]:
    return [state_from_bytes(b) for b in blobs]


def majority_chance(state: SemanticEvalState) -> float:
    """mIoU of predicting the most frequent class everywhere: its IoU is its pixel share, every
    other class present scores 0."""
    n = len(state.class_names)
    gt = np.bincount(state.entry_cell // n, weights=state.entry_count, minlength=n)
    gt = gt + state.missed.sum(0)
    present = int((gt > 0).sum())
    total = gt.sum()
    return float(gt.max() / total / present) if present and total else 0.0


def resample_states(
    states: dict[str, list[EvalState]],
    metric_keys: dict[str, str],
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Samples]:
    """Samples for every option with states: ``states`` maps an option's name to its seeds'
    states for the evaluation scoring its metric, ``metric_keys`` to that metric's key
    (``bbox_AP``, ``mIoU``, ...). Options evaluated on the same image set (by id) get the same
    bootstrap weights, so they can be compared pairwise; an option whose seeds disagree on the
    images is left out. Options with one seed borrow the pooled seed variance of the others."""
    out: dict[str, Samples] = {}
    weights_of: dict[int, np.ndarray] = {}
    for name, seeds in states.items():
        if not seeds:
            continue
        images = tuple(sorted(int(i) for i in seeds[0].image_ids))
        if any(tuple(sorted(int(i) for i in s.image_ids)) != images for s in seeds):
            continue
        position = {image: k for k, image in enumerate(images)}
        if len(images) not in weights_of:
            weights_of[len(images)] = bootstrap_weights(len(images), n_resamples, seed)
        weights = weights_of[len(images)]
        _evaluation, metric = STATE_OF_METRIC[metric_keys[name]]
        columns_of = [np.asarray([position[int(i)] for i in s.image_ids]) for s in seeds]
        per_seed = np.column_stack(
            [
                s.score_batch(weights[:, cols], [metric])[metric]
                for s, cols in zip(seeds, columns_of, strict=True)
            ]
        )
        points = np.asarray([s.score(np.ones(s.n_images))[metric] for s in seeds])
        first = seeds[0]
        chance = majority_chance(first) if isinstance(first, SemanticEvalState) else 0.0
        out[name] = Samples(per_seed, points, len(images), chance, images)
    _assign_noise(out)
    return out


def resample_all(
    state_blobs: dict[str, list[bytes]], metric_keys: dict[str, str]
) -> dict[str, Samples]:
    """:func:`resample_states` from stored state bytes."""
    return resample_states(
        {name: _states(blobs) for name, blobs in state_blobs.items() if blobs}, metric_keys
    )


def pooled_noise(samples: dict[str, Samples]) -> SeedNoise | None:
    """The seed variance pooled over every option with two or more seeds."""
    own = [n for n in (s.own_noise() for s in samples.values()) if n is not None]
    df = sum(n.df for n in own)
    if not own or df <= 0:
        return None
    return SeedNoise(sum(n.var * n.df for n in own) / df, df, "pooled")


def _assign_noise(samples: dict[str, Samples]) -> None:
    pooled = pooled_noise(samples)
    for s in samples.values():
        s.noise = s.own_noise() or pooled


def training_noise(samples: dict[str, Samples], names: list[str]) -> str:
    """``measured`` when every named option has its own seeds, ``pooled`` when some borrow
    the others' spread, ``not_measured`` when none has two seeds."""
    noises = [samples[n].noise for n in names if n in samples]
    if not noises or any(n is None for n in noises) or len(noises) < len(names):
        return "not_measured"
    return "measured" if all(n is not None and n.source == "measured" for n in noises) else "pooled"


def compare(a: Samples, b: Samples) -> Comparison | None:
    """a minus b: on shared resamples of the images, and with the seeds' spread when measured;
    None when they were not scored on the same images."""
    if a.images != b.images:
        return None
    diff = a.values - b.values
    defined = diff[~np.isnan(diff)]
    prob = float(np.mean(defined > 0)) if len(defined) else math.nan
    seeds = (a.n_seeds, b.n_seeds)
    if a.noise is None or b.noise is None:
        lo, hi = percentile_interval(diff, LEVEL, len(diff))
        return Comparison(
            difference=float(np.mean(defined)) if len(defined) else math.nan,
            ci_low=lo,
            ci_high=hi,
            prob_a_better=prob,
            n_images=a.n_images,
            seeds=seeds,
            image_var=_image_var(diff),
        )
    image_var = _image_var(diff)
    parts = [(image_var, a.n_images - 1.0)]
    parts += [(s.noise.var / s.n_seeds, s.noise.df) for s in (a, b) if s.noise is not None]
    center = a.mean - b.mean
    lo, hi = _t_interval(center, parts)
    source = "measured" if a.noise.source == b.noise.source == "measured" else "pooled"
    return Comparison(
        difference=center,
        ci_low=lo,
        ci_high=hi,
        prob_a_better=prob,
        n_images=a.n_images,
        seeds=seeds,
        training_noise=source,
        image_var=image_var,
        seed_var=(a.noise.var, b.noise.var),
        seed_df=(a.noise.df, b.noise.df),
    )


def separation(cmp: Comparison, margin: float) -> Separation:
    """Roughly how many seeds per option (or how many times the validation images) would turn
    an undecided comparison into a separated or an equivalent one, from how the interval
    narrows (seeds' variance as 1/seeds, images' as 1/images)."""
    if cmp.training_noise == "not_measured":
        return Separation(needs_seeds_first=True)
    d = abs(cmp.difference)
    goals = [("separate", d)] + ([("equivalent", margin - d)] if d < margin else [])
    best = Separation()
    for goal, room in goals:
        if room <= 0:
            continue
        for n in range(max(cmp.seeds), MAX_SEEDS_ADVICE + 1):
            if cmp.half_width(seeds=n) < room:
                if best.seeds is None or n < best.seeds:
                    best = Separation(seeds=n, goal=goal)
                break
    if best.seeds is None:
        for goal, room in goals:
            if room <= 0:
                continue
            for factor in (1.5, 2, 3, 4, 6, 8, 12, 16):
                if cmp.half_width(seeds=MAX_SEEDS_ADVICE, image_factor=factor) < room:
                    if best.image_factor is None or factor < best.image_factor:
                        best = Separation(seeds=MAX_SEEDS_ADVICE, image_factor=factor, goal=goal)
                    break
    return best
