"""The HTML report: one self-contained file (plotly.js inlined) built from a results store."""

from benchsel.report.render import build_report, write_report

__all__ = ["build_report", "write_report"]
