"""The model zoo (tests/zoo.py) is what it says: every builder makes the declared shapes, and trained
models survive a .keras round trip."""

from __future__ import annotations

import numpy as np
import pytest
import zoo


def test_the_zoo_covers_the_issue() -> None:
    assert len(zoo.ZOO) >= 12
    assert {spec.kind for spec in zoo.ZOO} == {"seq2seq", "next", "direct"}
    for spec in zoo.ZOO:
        assert getattr(zoo, f"build_{spec.name}") is spec.build
        assert {"window", "rollout"} <= set(spec.graphs) <= set(zoo.ALL_GRAPHS)
    assert "| tutorial_lstm |" in zoo.table()


@pytest.mark.slow  # not training, but it imports Keras: ~10 s the fast suite need not pay
@pytest.mark.parametrize("name", zoo.NAMES)
def test_builder_makes_the_declared_shapes(name: str) -> None:
    spec = zoo.ZOO_BY_NAME[name]
    model = spec.build(zoo.WINDOW, steps=0)
    assert tuple(model.input_shape) == spec.input_shape(zoo.WINDOW)
    assert tuple(model.output_shape) == spec.output(zoo.WINDOW)
    assert model.optimizer is not None and model.loss == "mse"
    x, y = zoo.windows(spec)
    assert x.shape[1:] == spec.input_shape()[1:] and y.shape[1:] == spec.output(zoo.WINDOW)[1:]


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.NAMES)
def test_trained_model_round_trips_as_keras(name: str, tmp_path) -> None:
    spec = zoo.ZOO_BY_NAME[name]
    untrained = spec.build(zoo.WINDOW, steps=0)
    model = spec.build(zoo.WINDOW)
    x = zoo.windows(spec)[0][: spec.batch or 4]
    assert not np.allclose(zoo.fresh_call(model, x), zoo.fresh_call(untrained, x))  # training moved it
    assert zoo.save_and_load(spec, model, "keras", tmp_path) == "ok"
