"""Benchmarks and reports: accuracy and latency of every bundle variant against the float model.

Benching a bundle needs numpy and a TFLite interpreter, never TensorFlow: each runtime is measured
in its own child process (`edge_forecast.bench.measure`); only `--reference` starts a TensorFlow
child (`edge_forecast.bench.keras_baseline`). Entry point: `edge_forecast.bench.runner.bench_bundle`.
"""
