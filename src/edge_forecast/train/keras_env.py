"""Import Keras quietly and deterministically (TensorFlow's C++ logs drown the CLI otherwise)."""

from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def seed_everything(seed: int) -> None:
    """Same seed, same machine, same weights and history."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def versions() -> dict[str, str]:
    import platform

    import keras
    import numpy as np
    import tensorflow as tf

    from edge_forecast.version import __version__

    return {
        "edge_forecast": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": platform.platform(),
    }
