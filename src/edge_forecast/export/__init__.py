"""Keras -> TFLite export into a device bundle (desktop, TensorFlow)."""
