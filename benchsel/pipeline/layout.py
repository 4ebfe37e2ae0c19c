"""Every path a run reads or writes, computed in one place.

```
<output>/<suite>.sqlite            the results store (and its .lock)
<output>/work/data/prepared.json   the prepared data every trial reads
<output>/work/data/...             the OpenMMLab files written for each task and split
<output>/sample-data/              the built-in sample, when the suite asks for it
<output>/cache/                    checkpoints fetched from URLs
<output>/trials/<hash>/            one folder per trial (see TrialFiles)
<reports>/<suite>.html             the report
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrialFiles:
    """The files of one trial's folder."""

    dir: Path

    @property
    def spec(self) -> Path:
        return self.dir / "spec.json"

    @property
    def outcome(self) -> Path:
        return self.dir / "outcome.json"

    @property
    def progress(self) -> Path:
        return self.dir / "progress.json"

    @property
    def log(self) -> Path:
        return self.dir / "trial.log"

    @property
    def weights(self) -> Path:
        return self.dir / "weights.pth"

    @property
    def train_dir(self) -> Path:
        return self.dir / "train"


@dataclass(frozen=True)
class RunLayout:
    """The output folder of one suite."""

    output: Path
    name: str = ""

    @property
    def store(self) -> Path:
        return self.output / f"{self.name}.sqlite"

    @property
    def data_dir(self) -> Path:
        return self.output / "work" / "data"

    @property
    def prepared(self) -> Path:
        return self.data_dir / "prepared.json"

    @property
    def sample_dir(self) -> Path:
        return self.output / "sample-data"

    @property
    def cache_dir(self) -> Path:
        return self.output / "cache"

    def trial(self, trial_hash: str) -> TrialFiles:
        return TrialFiles(self.output / "trials" / trial_hash)
