"""The contracts between stages, as frozen dataclasses with one reader and writer (stdlib only).

- run_record: training.json, what train writes and export and bench read;
- bundle: bundle.json, the only contract between desktop and device, and the typed variant id;
- jobs: what a parent process hands to each child process (children.run_job).
"""

from edge_forecast.contracts.schema import Contract, ContractError

__all__ = ["Contract", "ContractError"]
