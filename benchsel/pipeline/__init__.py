"""The run engine, in the order data flows through it.

plan (suite -> trial specs) -> layout (every output path) -> prepare (data, once per run) ->
executors (+ worker: one process per trial) -> trial (build, train, evaluate, measure) ->
run (the driver: resume, store each outcome).
"""
