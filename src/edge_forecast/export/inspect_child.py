"""Child process: read a user's Keras model, say what forecaster it is, and save it for conversion.

Usage: python -m edge_forecast.export.inspect_child JOB.json inspect
Emits {"ok": true, "shape": ..., "window": W, "params": N, "keras": version, "file": NAME.keras}, or
{"ok": false, "error": one line} when the model is not one export takes (a UserError's message).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import InspectJob
from edge_forecast.errors import UserError


def inspect(job: InspectJob) -> dict:
    import keras

    from edge_forecast.export import user_model, user_steps

    if Path(job.model_path).is_dir():
        return inspect_saved_model(job)
    model = user_model.load(job.model_path)
    shape = user_model.describe(model, job.name)
    window = job.window or shape.window
    if window is None:
        raise UserError(f"model {job.name} takes windows of any length (input {list(shape.input_shape)}); "
                        "give the window it was trained on with --window", "window")
    if shape.window is not None and job.window is not None and job.window != shape.window:
        raise UserError(f"window {job.window} does not match model {job.name}, whose input is "
                        f"{list(shape.input_shape)} (window {shape.window})", "window")
    # the rebuilt window graph must forecast what the model does before anything is converted
    clone = user_model.window_graph(model, shape, window)
    probe = np.random.default_rng(0).standard_normal((4, window, shape.channels)).astype(np.float32)
    got = np.array([np.asarray(clone(probe[i : i + 1], training=False)).reshape(-1) for i in range(4)])
    diff = float(np.max(np.abs(got - user_model.forecasts(model, shape, probe))))
    if not diff <= 1e-5:
        raise UserError(f"model {job.name}: its batch-1 unrolled rebuild differs from it by {diff:.3g}; a layer "
                        "does not rebuild from its config", "model")
    file = f"{job.name}.keras"
    model.save(Path(job.out_dir) / file)
    # whether step and stream graphs can be built (export/user_steps.py), decided here where Keras is
    stepping = user_steps.refusal(model, shape.output, shape.channels)
    return {"ok": True, "shape": {**shape.to_dict(), **stepping}, "window": window, "params": int(model.count_params()),
            "keras": keras.__version__, "file": file, "layers": [type(layer).__name__ for layer in model.layers]}


def inspect_saved_model(job: InspectJob) -> dict:
    """A SavedModel folder: its serving function's forecaster shape, the window graph traced and
    frozen once here (a loop it cannot unroll is refused: saved_forecaster.LOOP_REFUSED), the folder copied."""
    import shutil

    from edge_forecast.export import saved_forecaster
    from edge_forecast.export.from_model import SAVED_MODEL

    signature = saved_forecaster.load(job.model_path, job.name)
    model = saved_forecaster.describe(signature, job.name, job.window)
    shape = model.shape
    window = job.window or shape.window
    if shape.window is not None and job.window is not None and job.window != shape.window:
        raise UserError(f"window {job.window} does not match model {job.name}, whose input is "
                        f"{list(shape.input_shape)} (window {shape.window})", "window")
    graph = saved_forecaster.window_graph(model, window)
    try:  # frozen and its loops unrolled once here: what cannot be is refused before any conversion
        graph.frozen()
    except saved_forecaster.LoopError as exc:
        raise UserError(f"model {job.name}: {exc}", "model") from None
    except Exception as exc:  # noqa: BLE001  (a graph that does not freeze: not a forecaster export converts)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise UserError(f"model {job.name}: its signature {signature.key} cannot be frozen for conversion: {first}",
                        "model") from None
    file = f"{job.name}.savedmodel"
    shutil.copytree(job.model_path, Path(job.out_dir) / file)
    params = int(sum(np.prod(v.shape) for v in getattr(signature.owner, "variables", [])))
    found = {**shape.to_dict(), "format": SAVED_MODEL, "signature": signature.key,
             "step_refused": saved_forecaster.STEP_REFUSED}
    return {"ok": True, "shape": found, "window": window, "params": params, "keras": None,  # Keras does not read it
            "file": file, "layers": [], "kind": SAVED_MODEL}


def main(argv: list[str]) -> int:
    from edge_forecast.train.keras_env import quiet_tensorflow

    quiet_tensorflow()
    job, items = read_job(InspectJob, argv)
    for item in items:
        try:
            emit(item, **inspect(job))
        except UserError as exc:
            emit(item, ok=False, error=str(exc), argument=exc.argument)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
