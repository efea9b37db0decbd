"""OUT/manifest.json: what a deployment copies to each sensor's device (stdlib only).

    {"format": "edge-forecast-fleet-manifest", "format_version": 1,
     "sensors": {"<id>": {"bundle": "bundles/<slug>", "model": "lstm", "variant": "int8",
                          "file": "lstm.int8.tflite", "sha256": "<of that file>",
                          "bundle_json_sha256": "<of bundle.json>"}}}

Paths are relative to the manifest's folder. Only sensors with a bundle are listed; the failed
ones are in the fleet report.
"""

from __future__ import annotations

from pathlib import Path

from edge_forecast.fleet.task import SeriesResult
from edge_forecast.fsio import sha256_file, write_json_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "edge-forecast-fleet-manifest"
MANIFEST_VERSION = 1


def manifest(out: Path, results: list[SeriesResult]) -> dict:
    sensors = {}
    for r in sorted((r for r in results if r.done), key=lambda r: r.id):
        sensors[r.id] = {"bundle": r.bundle, "model": r.model, "variant": r.variant, "file": r.file,
                         "sha256": r.sha256, "bundle_json_sha256": sha256_file(Path(out) / r.bundle / "bundle.json")}
    return {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "sensors": sensors}


def write_manifest(out: Path, results: list[SeriesResult]) -> Path:
    path = Path(out) / MANIFEST_NAME
    write_json_atomic(path, manifest(out, results))
    return path
