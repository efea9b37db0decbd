"""Keras' GRU for the unrolled graphs the exporter converts, with its recurrent bias arranged so
that an integer conversion stores it once (docs/design/0010-integer-window-graph-size.md).

Keras 3's GRU (reset_after=True) adds its recurrent bias inside the recurrent projection,
h @ U + b_rec. The converter fuses that ADD into the step's FULLY_CONNECTED, and an int32 bias is
stored at scale s(h_t) x s(U)[c]: every unrolled step's h_t has its own calibrated scale, so every
step gets its own int32 bias and its own per-channel scales (GRU(40), 19 steps: ~18 KB, more than
the int8 weights save). Here the same arithmetic is arranged as:

- the z and r parts of b_rec are added to the input-side bias (z and r are activations of
  x_zr + h @ U_zr + b_in_zr + b_rec_zr, so they can move there: exact in real arithmetic); the
  input-side FULLY_CONNECTED's input (the window's values) has one scale, so its bias is one
  tensor for every step;
- the recurrent projection h @ U has no bias, and the h part of b_rec (multiplied by r, so it
  cannot move) is added after the projection is split into its zr and h parts: an ADD that is
  not next to the FULLY_CONNECTED, so the converter does not fuse it, and its constant is one
  tensor shared by every step;
- z and r are one activation of the 2u-wide sum, split after it, and each projection is cut by
  one SPLIT_V instead of three STRIDED_SLICEs: fewer tensors per step, and every tensor of an
  integer graph carries a quantization table (int16x8 was 0.5 % over float32 by those alone).

Same weights (kernel, recurrent_kernel, bias (2, 3u) or (3u,)), same gates (z, r, h), same
activations; equal to Keras' GRU to float32 rounding. Inference only: dropout is not applied
(as in Keras' inference).
"""

from __future__ import annotations

from edge_forecast.train.keras_env import quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402
from keras import ops  # noqa: E402


class SharedBiasGRUCell(keras.layers.GRUCell):
    """keras.layers.GRUCell with the bias arranged as the module says; built and configured as it."""

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x = ops.matmul(inputs, self.kernel)
        recurrent_h_bias = None
        if self.use_bias and self.reset_after:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
            moved = ops.concatenate([recurrent_bias[: 2 * u], ops.zeros((u,), dtype=recurrent_bias.dtype)])
            x = x + (input_bias + moved)  # one constant after the converter folds it
            recurrent_h_bias = recurrent_bias[2 * u :]
        elif self.use_bias:
            x = x + self.bias
        x_zr, x_h = ops.split(x, [2 * u], axis=-1)
        if self.reset_after:
            inner = ops.matmul(h_tm1, self.recurrent_kernel)  # no bias: nothing per step to fuse into it
            inner_zr, recurrent_h = ops.split(inner, [2 * u], axis=-1)
        else:
            inner_zr = ops.matmul(h_tm1, self.recurrent_kernel[:, : 2 * u])
        z, r = ops.split(self.recurrent_activation(x_zr + inner_zr), 2, axis=-1)
        if self.reset_after:
            if recurrent_h_bias is not None:
                recurrent_h = recurrent_h + recurrent_h_bias  # after the split: an ADD of one shared constant
            recurrent_h = r * recurrent_h
        else:
            recurrent_h = ops.matmul(r * h_tm1, self.recurrent_kernel[:, 2 * u :])
        hh = self.activation(x_h + recurrent_h)
        # Keras' blend, as it is: hh + z * (h_tm1 - hh) is one op less per step, but its int8 closed
        # loop was further from Keras (0.0013 against 0.00082, docs/design/0010) and its first step
        # subtracts from the zero initial state, a constant at scale 0 that int16x8 cannot prepare
        h = z * h_tm1 + (1 - z) * hh
        return h, ([h] if isinstance(states, (list, tuple)) else h)


class SharedBiasGRU(keras.layers.GRU):
    """keras.layers.GRU (same config, weights and RNN loop: unroll, go_backwards, masks, returned
    sequences and states) whose cell is a SharedBiasGRUCell; never the cuDNN kernel."""

    def __init__(self, *args, **kwargs):
        kwargs["use_cudnn"] = False
        super().__init__(*args, **kwargs)
        # GRU builds its GRUCell in __init__; the subclass adds no state, only its call
        self.cell.__class__ = SharedBiasGRUCell


def shared_bias_gru(layer: keras.layers.GRU, **changes) -> SharedBiasGRU:
    """An unbuilt SharedBiasGRU configured as `layer`, with `changes` to its config (unroll=True...)."""
    config = layer.get_config()
    config.update(changes)
    return SharedBiasGRU.from_config(config)

