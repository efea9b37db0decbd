"""Training on the desktop (TensorFlow/Keras). Import only where TensorFlow is installed."""

# `edge_forecast.train(...)` calls edge_forecast.api.train: the package is callable
from edge_forecast.api import callable_package

callable_package(__name__, "train")
