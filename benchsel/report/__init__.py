"""The HTML report: one self-contained file (plotly.js inlined) built from a results store.

render (the page) <- sections (each part of the page, from the stored trials) <- figures (the
plotly figures, one module per family); reading holds how a stored trial is read for display,
gallery the label-issue crops, page the page's list of figures.
"""

from benchsel.report.render import build_report, write_report

__all__ = ["build_report", "write_report"]
