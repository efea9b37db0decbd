"""Child process: load and run exported artifacts and compare them with Keras (export's checks).

Usage: python -m edge_forecast.export.verify_child JOB.json MODEL/VARIANT [...]

Run through children.run_resilient like conversion: an interpreter that crashes or hangs on one
artifact fails that artifact, not the export. numpy + ai-edge-litert only.
"""

from __future__ import annotations

import sys

from edge_forecast.children import emit, read_job
from edge_forecast.contracts.jobs import VerifyJob
from edge_forecast.export.verify import to_json, verify_item


def main(argv: list[str]) -> int:
    job, items = read_job(VerifyJob, argv)
    for item in items:
        try:
            check = verify_item(job, item)
        except (ValueError, RuntimeError) as exc:  # the runtime refused the file: that is the finding
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            emit(item, ok=False, problems=[f"ai-edge-litert cannot run it: {first}"])
        else:
            emit(item, **to_json(check))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
