"""Keras -> TFLite export into a device bundle (desktop, TensorFlow)."""

# `edge_forecast.export(...)` calls edge_forecast.api.export: the package is callable
from edge_forecast.api import callable_package

callable_package(__name__, "export")
