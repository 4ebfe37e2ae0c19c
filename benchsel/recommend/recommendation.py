"""What a recommendation is: the pick, the ranking, what was rejected and why, the verdict and
the evidence it rests on; ``to_dict`` is the ``recommend --json`` answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchsel.recommend.options import Option
from benchsel.suite import Constraints


@dataclass
class Recommendation:
    task: str
    basis: str
    recommended: Option | None
    ranking: list[Option]
    rejected: list[Option]
    reasons: list[str]
    notes: list[str]
    constraints: Constraints
    # clear | equivalent | undecided | uncontested | no_signal | forecast (None: the prior)
    verdict: str | None = None
    tied_with: list[str] = field(default_factory=list)  # names, for equivalent and undecided
    evidence: dict[str, Any] | None = None  # what the verdict rests on (None for the prior)

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommended
        return {
            "task": self.task,
            "basis": self.basis,
            "verdict": self.verdict,
            "tied_with": self.tied_with,
            "evidence": self.evidence,
            "recommended": None
            if rec is None
            else {
                "name": rec.name,
                "id": rec.id,
                "family": rec.family,
                "variant": rec.variant,
                "loss": rec.loss,
                "metric": rec.accuracy_metric,
                **{
                    k: rec.to_dict()[k]
                    for k in (
                        "accuracy",
                        "accuracy_ci_low",
                        "accuracy_ci_high",
                        "test_accuracy",
                        "test_accuracy_ci_low",
                        "test_accuracy_ci_high",
                        "deploy_accuracy",
                        "deploy_size",
                        "seeds",
                    )
                },
            },
            "reasons": self.reasons,
            "notes": self.notes,
            "ranking": [o.to_dict() for o in self.ranking],
            "rejected": [
                {"id": o.id, "name": o.name, "family": o.family, "reasons": o.reasons}
                for o in self.rejected
            ],
            "pareto": [o.name for o in self.ranking + self.rejected if o.pareto],
            "constraints": {"task": self.task, **self.constraints.model_dump()},
        }
