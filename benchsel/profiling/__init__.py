"""Cost: FLOPs and parameters, latency, memory and the environment each figure was measured in.
Nothing here scores accuracy: that is :mod:`benchsel.evaluation`."""
