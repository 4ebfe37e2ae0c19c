"""Run the installed ``benchsel`` console script, as a user does, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BENCHSEL = Path(sys.executable).with_name("benchsel")


@dataclass
class CliResult:
    """Exit code and stdout + stderr of one command."""

    code: int
    stdout: str
    output: str

    def report(self) -> dict[str, Any]:
        """The ``--json`` report on stdout."""
        return json.loads(self.stdout)


def _run(*args: str) -> CliResult:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}  # rich wraps long lines at 80
    proc = subprocess.run(
        [str(BENCHSEL), *args], capture_output=True, text=True, timeout=300, env=env
    )
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    return CliResult(proc.returncode, proc.stdout, output)


@pytest.fixture
def benchsel() -> Callable[..., CliResult]:
    """``benchsel(*args)`` runs the console script; a traceback in its output fails the test."""
    if not BENCHSEL.is_file():
        pytest.fail(f"console script {BENCHSEL} is not installed (run `make install`)")
    return _run
