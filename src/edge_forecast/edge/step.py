"""Step and stream graphs on the device: the exact step / stream graph and the one-invoke rollout.

A step graph advances the recurrent state by one value and gives the next prediction. It comes
in two kinds, and `StepModel` runs either (it tells them apart by the signatures):

- state inside (bundles written since format minor 1, the default of export): the state lives
  in the interpreter's resource variables. Signature `step` (subgraph 0, what `invoke()` runs):
  x (1, 1) -> y (1, 1), reading the state and writing the next one;
  `step_load` assigns a state (reset, restore) and `step_save` returns it (snapshot), both through
  the public signature runner, made for the call and dropped (a live runner holds the native
  interpreter, and the interpreters then refuse `invoke()`). A closed-loop step is set x, invoke,
  get y: the public-API floor without a state copy, which is why it exists
  (docs/design/0005-state-inside-the-graph.md: the explicit-state step through public calls
  cost 1.2-1.5x the private native invoke this module used before #16).
- explicit state (older bundles and `export --step-state explicit`, which
  `edge-forecast micro` takes): inputs x (1, 1) and the state tensors, outputs y (1, 1) and the
  next states. After an invoke each next-state output is copied into its state input with
  set_tensor / get_tensor (an int8 graph whose input and output state scales differ is
  requantized through a preallocated buffer).

States are named h[, c] (one recurrent layer: the product's models) or h0, c0, h1, ... (a user's
stack of recurrent layers, export/user_steps.py: layer order, h before c); `state_order` is that
order, the order of the graph's state inputs and next-state outputs.

Tensors are found by index, never by tensor name (a stripped flatbuffer has none): the indices
bundle.json records at export (`tensors`), or, at export, the model's signature (explicit state:
`serving_default`: inputs x and the states; outputs output_0 = y, output_1.. = the next states in the
model's output order; state inside: subgraph 0's one input and one output, which must be the
`step` signature's x and y).

Why not numpy views of the tensor buffers: the interpreters refuse `invoke()` while a view is
alive, and views made afresh for every step (`interpreter.tensor(i)()`) cost more than the copies:
on ai-edge-litert making a view costs about what a get_tensor or set_tensor call does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge_forecast.edge.artifact import TensorQuant
from edge_forecast.edge.runtime import Runtime, make_interpreter

STATE_NAMES = ("h", "c")  # one recurrent layer's; a stack's are these with the layer's number (h0, c0, h1, ...)
_STATE_NAME = re.compile(r"([hc])(\d*)")
# The signatures of a graph that keeps its state inside (export.graphs.build_state_inside); sorted,
# so the converter makes `step` subgraph 0
STATE_SIGNATURES = ("step", "step_load", "step_save")
STATE_KEPT = ("inside", "explicit")  # export --step-state: where a step / stream graph keeps its state
STATE_STORE = "variables"  # bundle.json `state_store` of a state-inside variant (absent: explicit state)


def is_state_name(name: str) -> bool:
    return _STATE_NAME.fullmatch(str(name)) is not None


def state_order(names) -> list[str]:
    """The state names among `names` (others left out) in the graph's order: by layer, h before c."""
    def key(name: str) -> tuple[int, int]:
        letter, layer = _STATE_NAME.fullmatch(name).groups()
        return int(layer or 0), STATE_NAMES.index(letter)

    return sorted((n for n in names if is_state_name(n)), key=key)


def keeps_state_inside(interp) -> bool:
    """Whether the interpreter's model has the state-inside signatures (tflite-micro's adapter
    has no signatures: False)."""
    signatures = getattr(interp, "get_signature_list", None)
    return signatures is not None and set(STATE_SIGNATURES) <= set(signatures())


def signature_tensors(interp) -> dict:
    """{"x": index, "y": index, "<state>": [input index, output index]} from the model signature.

    The signature runner holds the interpreter's native handle (as a view would), so it is
    dropped here before anything invokes."""
    runner = interp.get_signature_runner()
    inputs = {name: int(d["index"]) for name, d in runner.get_input_details().items()}
    outputs = runner.get_output_details()
    del runner
    ordered = [int(outputs[k]["index"]) for k in sorted(outputs, key=_output_number)]
    states = state_order(inputs)
    if "x" not in inputs or not states or len(ordered) != 1 + len(states) or len(inputs) != len(ordered):
        raise ValueError(f"not a step graph (signature inputs {sorted(inputs)}, {len(ordered)} outputs)")
    return {"x": inputs["x"], "y": ordered[0], **{n: [inputs[n], ordered[1 + i]] for i, n in enumerate(states)}}


def _output_number(key: str) -> int:
    """'output_2' -> 2: the converter names a Keras model's signature outputs in output order."""
    tail = key.rsplit("_", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"signature output {key!r} is not output_<k>")
    return int(tail)


def _roles_fit(tensors: dict, states: list[str], ins: dict, outs: dict) -> bool:
    """x is an input and y an output, both (1, 1); each state an input whose output has its shape."""
    try:
        x, y = int(tensors["x"]), int(tensors["y"])
        pairs = [(int(tensors[n][0]), int(tensors[n][1])) for n in states]
    except (KeyError, TypeError, ValueError, IndexError):
        return False
    if not states or x not in ins or y not in outs or len(ins) != 1 + len(pairs) or len(outs) != 1 + len(pairs):
        return False
    if list(ins[x]["shape"]) != [1, 1] or list(outs[y]["shape"]) != [1, 1]:
        return False
    return all(i in ins and o in outs and list(ins[i]["shape"]) == list(outs[o]["shape"]) for i, o in pairs)


class _Handover:
    """Copies one next-state output into its state input, requantizing if the scales differ."""

    def __init__(self, interp, src: dict, dst: dict) -> None:
        self._get, self._set = interp.get_tensor, interp.set_tensor
        self._src_index, self._dst_index = int(src["index"]), int(dst["index"])
        sq, dq = TensorQuant.from_details(src), TensorQuant.from_details(dst)
        # scales that differ in the last float bit (the converter's rounding) count as equal: a
        # plain copy is then exact to within one quantization step of 1e-7 relative error
        self.same = not (sq.quantized or dq.quantized) or (
            sq.dtype == dq.dtype and sq.zero_point == dq.zero_point and abs(sq.scale / dq.scale - 1.0) < 1e-6)
        if not self.same:
            shape = tuple(int(d) for d in dst["shape"])
            self._tmp = np.empty(shape, dtype=np.float32)
            self._q = np.empty(shape, dtype=dq.dtype)
            self._a = np.float32(sq.scale / dq.scale)
            self._b = np.float32(dq.zero_point - sq.zero_point * sq.scale / dq.scale)
            info = np.iinfo(dq.dtype)
            self._lo, self._hi = info.min, info.max

    def pair(self) -> tuple[int, int]:
        """(output index, input index) of a plain copy."""
        return self._src_index, self._dst_index

    def __call__(self) -> None:
        if self.same:
            self._set(self._dst_index, self._get(self._src_index))
            return
        tmp = self._tmp
        np.multiply(self._get(self._src_index), self._a, out=tmp)
        tmp += self._b
        np.rint(tmp, out=tmp)  # halves to even, as edge.quantize rounds
        np.clip(tmp, self._lo, self._hi, out=tmp)
        np.copyto(self._q, tmp, casting="unsafe")
        self._set(self._dst_index, self._q)


class StepModel:
    """A step (exact, staggered W rows) or stream (one row) graph: push a value, get the next.

    Either kind (module docstring): state inside (`inside` True) or explicit. `tensors`: the
    tensor indices bundle.json records for this file ({"x", "y"} and, explicit, per state
    [input, output]); None reads them from the model's signatures. `interpreter` as WindowModel's;
    `name` labels its errors. Raises ValueError for a file that is not a step graph, or whose
    tensors are not the recorded ones."""

    def __init__(self, interpreter, tensors: dict | None = None, name: str = "model") -> None:
        self.name = name
        self.interpreter = interp = interpreter
        self.inside = keeps_state_inside(interp)
        try:
            x, y = self._inside_roles(tensors) if self.inside else self._explicit_roles(tensors)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        self.rows = int(self.states[self.state_names[0]]["shape"][0])
        self.x_index, self.y_index = int(x["index"]), int(y["index"])
        self.input_quant = TensorQuant.from_details(x)
        self.output_quant = TensorQuant.from_details(y)
        self._invoke, self._set, self._get = interp.invoke, interp.set_tensor, interp.get_tensor
        self._zero_state = {n: TensorQuant.from_details(d).quantize(np.zeros(d["shape"]))
                            for n, d in self.states.items()}
        quantizer = self.input_quant.scalar_quantizer()
        self._quantize = None if quantizer is None else quantizer.__call__  # bound: no __call__ lookup per step
        self._x = np.zeros((1, 1), dtype=self.input_quant.dtype)  # the input buffer, reused every step
        # an int8 x: one ready (1, 1) array per level, indexed by the level itself (levels[q] for
        # q in -128..127: the negative ones from the end), which costs less than writing q into _x
        self._levels = ([np.full((1, 1), q, dtype=np.int8) for q in (*range(128), *range(-128, 0))]
                        if self.input_quant.dtype == np.int8 and quantizer is not None else None)
        oq = self.output_quant
        self._out_scale, self._out_zp = (oq.scale, oq.zero_point) if oq.quantized else (1.0, 0)
        self.last = 0.0
        if not self.inside:  # the step with the state hand-over; a state-inside step is only set, invoke, get
            self.push = self._push_explicit
        self.reset()

    @classmethod
    def from_file(cls, path: Path, runtime: Runtime, threads: int | None = None,
                  tensors: dict | None = None) -> StepModel:
        return cls(make_interpreter(runtime, path, threads), tensors, Path(path).name)

    def _explicit_roles(self, tensors: dict | None) -> tuple[dict, dict]:
        """x, y and the state inputs / outputs of an explicit-state graph; the hand-overs."""
        interp = self.interpreter
        self.tensors = tensors = dict(tensors) if tensors else signature_tensors(interp)
        ins = {int(d["index"]): d for d in interp.get_input_details()}
        outs = {int(d["index"]): d for d in interp.get_output_details()}
        details = {**ins, **outs}
        self.state_names = state_order(tensors)
        if not _roles_fit(tensors, self.state_names, ins, outs):
            raise ValueError(f"not a step graph with the tensors {tensors}")
        self.states = {n: details[int(tensors[n][0])] for n in self.state_names}
        self._state_outputs = {n: details[int(tensors[n][1])] for n in self.state_names}
        handover = [_Handover(interp, self._state_outputs[n], self.states[n]) for n in self.state_names]
        self._copies = [h.pair() for h in handover if h.same]  # the common case, inlined in push
        self._requantize = [h for h in handover if not h.same]
        return details[int(tensors["x"])], details[int(tensors["y"])]

    def _inside_roles(self, tensors: dict | None) -> tuple[dict, dict]:
        """x and y of a state-inside graph: subgraph 0's one input and one output, which must be
        the `step` signature's; the states from `step_load` (inputs) and `step_save` (outputs)."""
        interp = self.interpreter
        step, load, save = STATE_SIGNATURES
        sx, sy = _signature_details(interp, step)
        ins, outs = interp.get_input_details(), interp.get_output_details()
        x, y = ins[0], outs[0]
        if not (len(ins) == len(outs) == 1 and set(sx) == {"x"} and set(sy) == {"y"}
                and (x["index"], x["name"]) == (sx["x"]["index"], sx["x"]["name"])
                and (y["index"], y["name"]) == (sy["y"]["index"], sy["y"]["name"])
                and list(x["shape"]) == list(y["shape"]) == [1, 1]):
            raise ValueError(f"not a step graph: subgraph 0 is not the `{step}` signature x (1, 1) -> y (1, 1)")
        self.tensors = {"x": int(x["index"]), "y": int(y["index"])}
        if tensors and {k: tensors.get(k) for k in ("x", "y")} != self.tensors:
            raise ValueError(f"not a step graph with the tensors {dict(tensors)} (its x and y are {self.tensors})")
        self.states, _ = _signature_details(interp, load)
        save_in, self._state_outputs = _signature_details(interp, save)
        self._save_feed = {"x": np.zeros((1, 1), dtype=save_in["x"]["dtype"])}  # unused by the graph
        self.state_names = state_order(self.states)
        if (not self.states or set(self.states) != set(self.state_names)
                or set(self._state_outputs) != set(self.states)
                or any(list(self.states[n]["shape"]) != list(self._state_outputs[n]["shape"])
                       for n in self.state_names)):
            raise ValueError(f"not a step graph: `{load}` / `{save}` do not load and save the same states")
        self._copies, self._requantize = [], []  # nothing to hand over: push is set x, invoke, get y
        self._saved_quant = {n: (TensorQuant.from_details(self._state_outputs[n]),
                                 TensorQuant.from_details(self.states[n]))
                             for n in self.state_names}
        return x, y

    def reset(self) -> None:
        """Zero state: every row starts an empty window."""
        self._load_state(self._zero_state)

    def _load_state(self, states: dict[str, np.ndarray]) -> None:
        if self.inside:  # one call of `step_load`; the runner is dropped before the next invoke
            runner = self.interpreter.get_signature_runner(STATE_SIGNATURES[1])
            runner(**states)
            del runner
            return
        for name, value in states.items():
            self._set(int(self.states[name]["index"]), value)

    def invoke(self) -> None:
        """The bare invoke on the current tensors (benchmarks compare the step with it)."""
        self._invoke()

    def push(self, value: float) -> float:
        """Feed one model-unit value; return the graph's prediction of the next (one invoke).

        Per step on a state-inside graph: set x, invoke, get y, the public-API floor of a step
        (docs/design/evidence/step_cost.md measured it); what is written here around those calls is kept to
        local names and Python scalars. An explicit-state graph runs `_push_explicit` instead."""
        if self._levels is not None:
            self._set(self.x_index, self._levels[self._quantize(value)])
        else:
            x = self._x
            x[0, 0] = value if self._quantize is None else self._quantize(value)
            self._set(self.x_index, x)
        self._invoke()
        self.last = last = (self._get(self.y_index).item() - self._out_zp) * self._out_scale
        return last

    def _push_explicit(self, value: float) -> float:
        """`push` on an explicit-state graph: one get_tensor / set_tensor pair per state between
        the invoke and y (requantized where the state's input and output scales differ)."""
        x, set_, get = self._x, self._set, self._get
        x[0, 0] = value if self._quantize is None else self._quantize(value)
        set_(self.x_index, x)
        self._invoke()
        for src, dst in self._copies:
            set_(dst, get(src))
        for hand in self._requantize:
            hand()
        self.last = last = (get(self.y_index).item() - self._out_zp) * self._out_scale
        return last

    def prime(self, values: np.ndarray) -> float:
        """Reset and feed `values` (model units); the result is the forecast after them. For the
        exact step graph W values make every row exact: each row restarted from zero within them."""
        self.reset()
        for v in np.asarray(values, dtype=np.float64).reshape(-1):
            self.push(float(v))
        return self.last

    def snapshot(self) -> tuple[dict[str, np.ndarray], float]:
        """The state (per name, as the graph holds it) and the last prediction, for `restore`."""
        if self.inside:
            runner = self.interpreter.get_signature_runner(STATE_SIGNATURES[2])
            saved = runner(**self._save_feed)
            del runner
            return {n: saved[n] for n in self.state_names}, self.last
        return {n: self._get(int(d["index"])) for n, d in self.states.items()}, self.last

    def restore(self, saved: tuple[dict[str, np.ndarray], float]) -> None:
        states = saved[0]
        if self.inside:  # `step_save`'s quantization may differ from `step_load`'s in the last bit
            states = {n: v if src == dst else dst.quantize(src.dequantize(v))
                      for n, v in states.items() for src, dst in [self._saved_quant[n]]}
        self._load_state(states)
        self.last = saved[1]

    def state_details(self) -> dict:
        """bundle.json's record of the state tensors (shape, dtype, quantization, and for an
        explicit-state graph the tensor indices; inside: `step_load`'s inputs, `step_save`'s outputs)."""
        out = {}
        for name in self.state_names:
            d, o = self.states[name], self._state_outputs[name]
            indices = {} if self.inside else {"input_index": int(d["index"]), "output_index": int(o["index"])}
            out[name] = {**TensorQuant.from_details(d).to_dict(), "shape": [int(s) for s in d["shape"]],
                         **indices, "output": TensorQuant.from_details(o).to_dict()}
        return out


def _signature_details(interp, key: str) -> tuple[dict, dict]:
    """(inputs, outputs) of signature `key` by name; the runner is dropped before anything invokes."""
    runner = interp.get_signature_runner(key)
    details = runner.get_input_details(), runner.get_output_details()
    del runner
    return details


class RolloutModel:
    """Window (1, W, 1) in, the H-step closed-loop forecast (1, H) out, in one invoke; of F
    channels, (1, W, F) in and (1, H x F) out, time-major (`horizon` counts positions)."""

    def __init__(self, interpreter, name: str = "model") -> None:
        self.name = name
        self.interpreter = interpreter
        inp, out = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inp) != 1 or len(out) != 1:
            raise ValueError(f"{name}: expected one input and one output tensor")
        self.input_index, self.output_index = int(inp[0]["index"]), int(out[0]["index"])
        self.input_shape = tuple(int(d) for d in inp[0]["shape"])
        self.window = self.input_shape[1]
        self.channels = self.input_shape[2] if len(self.input_shape) > 2 else 1
        self.horizon = int(out[0]["shape"][-1]) // self.channels
        self.input_quant = TensorQuant.from_details(inp[0])
        self.output_quant = TensorQuant.from_details(out[0])

    @classmethod
    def from_file(cls, path: Path, runtime: Runtime, threads: int | None = None) -> RolloutModel:
        return cls(make_interpreter(runtime, path, threads), Path(path).name)

    def forecast(self, window_values: np.ndarray) -> np.ndarray:
        """The H closed-loop values after `window_values` (model units; H x F flat, time-major, of F channels)."""
        self.interpreter.set_tensor(self.input_index,
                                    self.input_quant.quantize(window_values).reshape(self.input_shape))
        self.interpreter.invoke()
        return self.output_quant.dequantize(self.interpreter.get_tensor(self.output_index)).reshape(-1)


class StepWindow:
    """The SlidingWindow interface (fill / predict / push) over a step or stream graph, so the
    closed loops and benchmarks written for the window graph run unchanged: predict is free (the
    last invoke already produced the value), push is the one invoke per step."""

    def __init__(self, model: StepModel) -> None:
        self.model = model
        self.push = model.push  # the closed loop's per-step call, without a forwarding frame

    def fill(self, values: np.ndarray) -> None:
        self.model.prime(values)

    def predict(self) -> float:
        return self.model.last

    def snapshot(self):
        return self.model.snapshot()

    def restore(self, saved) -> None:
        self.model.restore(saved)
