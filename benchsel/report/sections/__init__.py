"""The parts of the report page, each built from the stored trials: one section per task
(``task``), the deployment sections (``deployment``: TTA, ONNX Runtime), the backbone sweeps
(``backbones``) and the trial tables (``tables``: results, conditions)."""
