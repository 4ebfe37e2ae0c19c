"""``benchsel list`` as logs and ``make demo`` print it: no terminal, 80 columns, every id whole."""

from __future__ import annotations

import re

import pytest

from benchsel.catalog import load_catalog


@pytest.mark.parametrize("columns", ["80", "60"])
def test_list_never_cuts_an_id(benchsel, columns):
    result = benchsel("list", env={"COLUMNS": columns})  # captured output: no TTY
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= int(columns)
    first_cells = {m.group(1) for line in lines if (m := re.match(r"[│┃|] (\S+)", line))}
    ids = [a.id for a in load_catalog().architectures]
    assert set(ids) <= first_cells, sorted(set(ids) - first_cells)
    assert "…" not in result.stdout
    assert "Left out at" in result.stdout  # the columns that did not fit are named


def test_list_keeps_every_column_when_wide(benchsel):
    result = benchsel("list", env={"COLUMNS": "400"})
    assert "Left out" not in result.stdout and "published" in result.stdout
