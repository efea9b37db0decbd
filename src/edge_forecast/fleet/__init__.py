"""`edge-forecast fleet`: one forecaster per sensor, for a folder of series or a long-format file.

- sources: DATA -> the series (one file each, read by edge_forecast.tabular as train reads one);
  parquet: a long-format Parquet file's typed columns as those files (pyarrow); columns: shared lookup
- task: one sensor's work (train, pick the model, export, record) and its typed result
- engines: where the tasks run: a local process pool, or Ray
- progress, report, manifest: the stderr log, fleet.md / fleet.json / fleet.png, manifest.json
- run: the whole command (edge_forecast.api.fleet calls run.run_fleet)

Importing this package loads nothing heavy (Ray's and the pool's workers import task from it).
"""
