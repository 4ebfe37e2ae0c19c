"""The report's plotly figures, one module per family: ``tradeoffs`` (accuracy against a cost),
``learning`` (learning curves and forecasts), ``classes`` (per class), ``diagnostics`` (why a
model wins or loses), ``training``, ``deployment`` (TTA, ONNX Runtime) and ``backbones``.

Each builder returns a plotly figure as a dict (None when there is nothing to draw). User
strings are HTML-escaped before plotly sees them (plotly renders a subset of HTML in labels).
"""
