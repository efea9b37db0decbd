"""edge-forecast: Keras recurrent forecasters from the desktop to an edge device.

The Python API (edge_forecast.api): `train`, `export`, `bench`, `demo`, `detect` and `fleet` do what
the CLI commands of the same names do; `Forecaster` forecasts with a bundle on the device. Importing the
package loads none of TensorFlow, Keras or numpy: each name loads its module on first use.
"""

import sys
from importlib import import_module
from types import ModuleType

from edge_forecast.errors import FailedItems, UserError
from edge_forecast.version import __version__  # noqa: F401  (edge_forecast.__version__)

# `edge_forecast.train` names the training package and the API's train at once (so do export,
# bench, demo, detect and fleet): an attribute set to the function would be replaced by the package on its
# first import, so the package becomes callable instead (_Stage), whoever imports it first.
STAGES = ("train", "export", "bench", "demo", "detect", "fleet")

__all__ = ["FailedItems", "Forecaster", "UserError", *STAGES]


class _Stage(ModuleType):
    """A stage's package (edge_forecast.train ...) that is also the API function of its name."""

    def __call__(self, *args, **kwargs):
        return self._function()(*args, **kwargs)

    @property
    def _stage(self) -> str:
        return self.__name__.rpartition(".")[2]

    def _function(self):
        from edge_forecast import api

        return getattr(api, self._stage)

    @property
    def __signature__(self):  # what inspect.signature (a notebook's help) shows
        import inspect

        return inspect.signature(self._function())

    def __repr__(self) -> str:
        return f"<module {self.__name__!r}, callable as edge_forecast.api.{self._stage}>"


class _Package(ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # the import system sets each imported subpackage here
        if name in STAGES and type(value) is ModuleType:
            value.__class__ = _Stage
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in STAGES:
        return import_module(f"edge_forecast.{name}")
    if name == "Forecaster":
        return import_module("edge_forecast.edge.forecaster").Forecaster
    raise AttributeError(f"module 'edge_forecast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
