"""Where a bundle's window-graph bytes go, per model and mode, with the closed-loop accuracy.

    .venv/bin/python scripts/graph_bytes.py BUNDLE [BUNDLE ...]

Per .tflite file of each bundle: its size, the constant data (weights, biases), the tensor names,
the quantization parameters (scale and zero-point values, counted per tensor as if none were
shared), the tensor, buffer and operator counts, and bundle.json's closed-loop RMSE against the
truth (in-sample when the run has no test segment) and against Keras. Reads the flatbuffers with
ai-edge-litert's schema (no TensorFlow). docs/design/0010-integer-window-graph-size.md was measured
with it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def anatomy(flatbuffer: bytes) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    tensors = [t for s in model.subgraphs for t in s.tensors]
    quant = 0
    for t in tensors:
        q = t.quantization
        if q is not None and q.scale is not None:
            quant += 4 * len(q.scale) + 8 * len(q.zeroPoint if q.zeroPoint is not None else [])
    return {"bytes": len(flatbuffer),
            "data": sum(len(b.data) for b in model.buffers if b.data is not None),
            "names": sum(len(t.name or b"") for t in tensors),
            "quant": quant, "tensors": len(tensors), "buffers": len(model.buffers),
            "ops": sum(len(s.operators) for s in model.subgraphs)}


def rows(bundle: Path) -> list[list[str]]:
    doc = json.loads((bundle / "bundle.json").read_text())
    out = []
    for name, model in doc["models"].items():
        for mode, variant in model["variants"].items():
            a = anatomy((bundle / variant["file"]).read_bytes())
            errors = variant.get("errors", {})
            truth = errors.get("closed_loop_rmse", errors.get("in_sample_closed_loop_rmse"))
            out.append([name, mode, f"{a['bytes']:,}", f"{a['data']:,}", f"{a['names']:,}", f"{a['quant']:,}",
                        str(a["tensors"]), str(a["buffers"]), str(a["ops"]),
                        "-" if truth is None else f"{truth:.4g}",
                        f"{errors.get('closed_loop_rmse_vs_keras', float('nan')):.2g}"])
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip())
        return 2
    head = ["model", "mode", "bytes", "constant data", "tensor names", "quant. params", "tensors", "buffers",
            "ops", "closed-loop RMSE vs truth", "vs Keras"]
    for bundle in map(Path, argv):
        print(f"\n{bundle}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows(bundle):
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
