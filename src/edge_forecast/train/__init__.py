"""Training on the desktop (TensorFlow/Keras). Import only where TensorFlow is installed."""
