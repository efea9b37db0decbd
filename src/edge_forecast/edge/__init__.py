"""The device side: numpy + one TFLite interpreter, never TensorFlow unless the user picks it."""

from edge_forecast.edge.forecaster import Forecaster
from edge_forecast.edge.runtime import Runtime, available_runtimes, resolve_runtime

__all__ = ["Forecaster", "Runtime", "available_runtimes", "resolve_runtime"]
