"""edge-forecast: Keras recurrent forecasters from the desktop to an edge device.

The Python API (edge_forecast.api): `train`, `export`, `bench` and `demo` do what the CLI
commands of the same names do; `Forecaster` forecasts with a bundle on the device. Importing the
package loads none of TensorFlow, Keras or numpy: each name loads its module on first use.
"""

from importlib import import_module

from edge_forecast.errors import FailedItems, UserError

__version__ = "0.1.0"

# name -> (module, attribute or None: the module itself, a callable package)
_LAZY = {
    "train": ("edge_forecast.train", None),
    "export": ("edge_forecast.export", None),
    "bench": ("edge_forecast.bench", None),
    "demo": ("edge_forecast.demo", None),
    "Forecaster": ("edge_forecast.edge.forecaster", "Forecaster"),
}

__all__ = ["FailedItems", "Forecaster", "UserError", "bench", "demo", "export", "train"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'edge_forecast' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    found = import_module(module)
    return found if attribute is None else getattr(found, attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
