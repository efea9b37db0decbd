"""edge-forecast: Keras recurrent forecasters from the desktop to an edge device."""

__version__ = "0.1.0"
