"""`export --quant auto`: per model, keep the smallest mode whose closed loop holds (a tie in size: the
earlier mode in QuantMode's order).

A mode holds when every graph kind of the model, in that mode, forecasts in a closed loop within
`tolerance` times the RMSE against the truth of the float32 export of the same graph. The choice is
one mode per model, not one per graph kind: a forecaster runs every graph of a model in one mode
(edge.forecaster: `--variant int8` with `--graph step` is `step-int8`), so a bundle that kept a
float16 window graph and an int8 step graph could not run its step graph. Design record 0008.

A pure function of a table of measured candidates (stdlib only), so that the rule is tested on
made-up tables without converting anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_forecast.contracts.bundle import GraphKind, QuantMode, VariantId
from edge_forecast.errors import UserError, parse_choices
from edge_forecast.export.modes import parse_modes

AUTO = "auto"
DEFAULT_TOLERANCE = 1.5


@dataclass(frozen=True)
class Candidate:
    """One variant export tried: its size, one invoke's median time on ai-edge-litert and its
    closed-loop RMSE against the truth, or the `problem` that kept it from the bundle."""

    id: VariantId
    bytes: int | None = None
    invoke_us: float | None = None
    closed_loop_rmse: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Verdict:
    candidate: Candidate
    ratio: float | None  # closed-loop RMSE / the float32 export's of the same graph (None: not measured)
    kept: bool
    reason: str

    def to_dict(self) -> dict:
        c = self.candidate
        ratio = None if self.ratio is None or math.isinf(self.ratio) else self.ratio  # JSON has no inf
        return {"bytes": c.bytes, "invoke_us": c.invoke_us, "closed_loop_rmse": c.closed_loop_rmse,
                "ratio_vs_float32": ratio, "kept": self.kept, "reason": self.reason}


@dataclass(frozen=True)
class AutoChoice:
    """What auto kept of one model and why it dropped the rest (bundle.json: models.M.quant_auto)."""

    tolerance: float
    chosen: QuantMode | None  # None: no float32 window graph verified, nothing to judge against
    verdicts: dict[str, Verdict]  # variant key -> verdict, in the order export tried them

    @property
    def kept(self) -> list[str]:
        return [key for key, v in self.verdicts.items() if v.kept]

    def to_dict(self) -> dict:
        return {"tolerance": self.tolerance, "chosen": self.chosen.value if self.chosen else None,
                "candidates": {key: v.to_dict() for key, v in self.verdicts.items()}}

    def line(self, model: str) -> str:
        """One line: what was kept, with its size and closed-loop ratio, then why each other was not."""
        if self.chosen is None:
            return f"{model}: quant auto kept every verified variant: " + self.verdicts[self.kept[0]].reason \
                if self.kept else f"{model}: quant auto kept nothing"
        kept = [self.verdicts[k] for k in self.kept]
        size = sum(v.candidate.bytes or 0 for v in kept) / 1024
        ratios = ", ".join(f"{_times(v.ratio)}" for v in kept)
        head = (f"{model}: kept {'+'.join(self.kept)} ({size:.1f} KiB, closed loop {ratios} float32"
                f" within {self.tolerance:g})")
        others = [f"{key} not kept: {v.reason}" for key, v in self.verdicts.items() if not v.kept]
        return "; ".join([head, *others])


def check_tolerance(tolerance: float | None, auto: bool) -> float | None:
    """The tolerance to use (DEFAULT_TOLERANCE with auto when not given), or a UserError: it
    applies to auto only and must be a finite number of at least 1 (float32 itself is 1x)."""
    if tolerance is None:
        return DEFAULT_TOLERANCE if auto else None
    if not auto:
        raise UserError(f"tolerance {tolerance:g} applies to quant auto only (--quant auto --tolerance X)",
                        "tolerance")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance):
        raise UserError(f"tolerance must be a finite number, got {tolerance!r}", "tolerance")
    if tolerance < 1:
        raise UserError(f"tolerance must be at least 1 (a multiple of the float32 export's closed-loop error; "
                        f"float32 itself is 1x), got {tolerance:g}", "tolerance")
    return float(tolerance)


def closed_loop_ratio(got: float, base: float) -> float:
    """A variant's closed-loop RMSE as a multiple of float32's (inf when float32's is 0 and its is not)."""
    if base > 0:
        return got / base
    return math.inf if got > 0 else 1.0


def choose(candidates: list[Candidate], tolerance: float) -> AutoChoice:
    """Keep one mode of a model: among the modes whose every graph kind holds within `tolerance`,
    the smallest in total bytes, then (a tie in size) the earlier mode in the fixed order float32,
    float16, dynamic, int8, int16x8. The measured invoke time is recorded but decides nothing: it
    varies between two runs of the same export, and the kept file must not (an `ar` model's float32
    and dynamic files are both 1,280 bytes). float32 holds by definition (1x), so a model whose
    float32 window graph verified always keeps something."""
    by_id = {c.id: c for c in candidates}
    verified = {c.id: c for c in candidates if c.problem is None}
    window_ref = VariantId(GraphKind.WINDOW, QuantMode.FLOAT32)
    if window_ref not in verified:
        reason = "kept unjudged: the float32 window graph did not verify, so there is nothing to measure against"
        return AutoChoice(tolerance, None, {
            c.id.key: Verdict(c, None, c.problem is None, reason if c.problem is None else c.problem)
            for c in candidates})
    # graph kinds judged: those whose float32 export verified (its closed loop is the yardstick)
    graphs = [g for g in dict.fromkeys(c.id.graph for c in candidates) if VariantId(g, QuantMode.FLOAT32) in verified]
    ratio = {i: closed_loop_ratio(c.closed_loop_rmse, verified[VariantId(i.graph, QuantMode.FLOAT32)].closed_loop_rmse)
             for i, c in verified.items() if i.graph in graphs}
    modes = [m for m in QuantMode if any(c.id.mode is m for c in candidates)]

    def why_not(mode: QuantMode, own: VariantId | None = None) -> str | None:
        """None when every judged graph kind holds in `mode`; else the first reason it does not
        (naming the variant when it is not `own`)."""
        for graph in graphs:
            item = VariantId(graph, mode)
            name = "" if item == own else f"{item.key}: "
            if item not in by_id:
                return f"no {item.key} variant (a mode is kept for every graph kind of the model or not at all)"
            if item not in verified:
                return f"{name}{by_id[item].problem}"
            if not ratio[item] <= tolerance:
                return f"{name}closed loop {_times(ratio[item])} float32 > {tolerance:g}"
        return None

    holding = [m for m in modes if why_not(m) is None]

    def cost(mode: QuantMode) -> tuple[int, int]:
        return sum(verified[VariantId(g, mode)].bytes for g in graphs), list(QuantMode).index(mode)

    chosen = min(holding, key=cost)
    best_bytes, _ = cost(chosen)
    verdicts = {}
    for c in candidates:
        r = ratio.get(c.id)
        if c.problem is not None:
            verdict = Verdict(c, None, False, c.problem)
        elif c.id.graph not in graphs:
            verdict = Verdict(c, None, False, f"its graph's float32 ({c.id.graph.value}-float32) did not verify: "
                                              "nothing to measure it against")
        elif c.id.mode is chosen:
            tied = [m.value for m in holding if m is not chosen and cost(m)[0] == best_bytes]
            verdict = Verdict(c, r, True, f"the smallest mode within {tolerance:g}x float32's closed-loop error "
                                          f"({_times(r)})" + (f"; as small as {', '.join(tied)}, and first in "
                                                              "order" if tied else ""))
        elif c.id.mode in holding:
            size, _ = cost(c.id.mode)
            if size > best_bytes:
                detail = f"larger ({size / 1024:.1f} KiB vs {best_bytes / 1024:.1f} KiB"
            else:
                detail = f"as small, after {chosen.value} in order ({size / 1024:.1f} KiB"
            verdict = Verdict(c, r, False, f"{detail}; within tolerance at {_times(r)})")
        else:
            verdict = Verdict(c, r, False, why_not(c.id.mode, c.id))
        verdicts[c.id.key] = verdict
    return AutoChoice(tolerance, chosen, verdicts)


def _times(ratio: float | None) -> str:
    if ratio is None:
        return "unmeasured"
    return "infinitely many times" if math.isinf(ratio) else f"{ratio:.2f}x"


def parse_quant(text: str | None) -> tuple[list[QuantMode], bool]:
    """`--quant`: the modes to convert and whether auto chooses among them ("auto" alone: all
    five, float32 as the reference)."""
    names = [*(m.value for m in QuantMode), AUTO]
    if text and parse_choices([text], names, "quantization mode", alone=(AUTO,), argument="quant") == [AUTO]:
        return list(QuantMode), True
    return parse_modes(text), False
