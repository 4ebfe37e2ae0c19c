"""What every per-image evaluation state shares: weight checks, scoring, (de)serialisation.

A point estimate from 60 validation images is noisy. Each evaluator (:mod:`.coco`,
:mod:`.semantic`, :mod:`.panoptic`) leaves, after ``evaluate()``, a ``state`` holding what it
measured per image: enough to re-score any reweighting of the images without matching anything
again (an image of weight w counts as w copies of it). :mod:`.bootstrap` resamples them. States
are plain arrays and round-trip through ``to_bytes`` / ``from_bytes`` (``.npz``, no pickle), so
they can be stored with a trial's results.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

FORMAT_VERSION = 1
# Fewer defined resamples than this fraction (e.g. no ground truth drawn) and there is no interval.
MIN_DEFINED_FRACTION = 0.5

_S = TypeVar("_S", bound="EvalStateBase")
_KINDS: dict[str, type[EvalStateBase]] = {}


class EvalStateBase(ABC):
    """What every state shares: weight checks, scoring, (de)serialisation."""

    kind: ClassVar[str]
    image_ids: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    @property
    @abstractmethod
    def metric_names(self) -> tuple[str, ...]:
        """Every metric ``score`` gives."""

    @property
    @abstractmethod
    def default_metrics(self) -> tuple[str, ...]:
        """The metrics worth an interval by default."""

    @abstractmethod
    def _score(self, weights: np.ndarray, metrics: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``metrics`` for each row of checked float ``weights`` (resamples x images)."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The fields as arrays for ``to_bytes``."""

    @classmethod
    @abstractmethod
    def _from_arrays(cls: type[_S], arrays: dict[str, np.ndarray]) -> _S:
        """The inverse of ``_arrays``."""

    def score(self, weights: np.ndarray) -> dict[str, float]:
        """Every metric with image ``i`` counted ``weights[i]`` times (all ones: as evaluated)."""
        batch = self.score_batch(np.asarray(weights)[None, :])
        return {name: float(values[0]) for name, values in batch.items()}

    def score_batch(
        self, weights: np.ndarray, metrics: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """``metrics`` (default: all) for each row of ``weights`` (resamples x images)."""
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != self.n_images:
            raise ValueError(
                f"weights must have shape (resamples, {self.n_images}), got {weights.shape}"
            )
        if weights.size and (weights.min() < 0 or np.any(weights != np.round(weights))):
            raise ValueError("weights must be non-negative integers (image multiplicities)")
        return self._score(weights, self._check_metrics(metrics))

    def _check_metrics(self, metrics: Sequence[str] | None) -> tuple[str, ...]:
        if metrics is None:
            return self.metric_names
        unknown = [m for m in metrics if m not in self.metric_names]
        if unknown:
            raise ValueError(
                f"{self.kind} state has no metric {', '.join(unknown)}; "
                f"it has {', '.join(self.metric_names)}"
            )
        return tuple(metrics)

    def to_bytes(self) -> bytes:
        """The state as a compressed ``.npz`` (read back with ``from_bytes``)."""
        arrays: dict[str, Any] = {
            "kind": np.array(self.kind),
            "format": np.array(FORMAT_VERSION),
            **self._arrays(),
        }
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls: type[_S], data: bytes) -> _S:
        """A state of this class from ``to_bytes`` output."""
        state = decode_state(data)
        if not isinstance(state, cls):
            raise ValueError(f"expected a {cls.kind} state, got a {state.kind} state")
        return state

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _KINDS[cls.kind] = cls


def decode_state(data: bytes) -> EvalStateBase:
    """Any state from its ``to_bytes`` output (its class is registered when defined)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    kind, version = str(arrays.pop("kind", "")), int(arrays.pop("format", -1))
    if kind not in _KINDS or version != FORMAT_VERSION:
        raise ValueError(f"not a benchsel evaluation state (kind {kind!r}, format {version})")
    return _KINDS[kind]._from_arrays(arrays)
