"""edge-forecast on the Numenta Anomaly Benchmark (NAB), under NAB's causal protocol.

Per data file: `train` on the probationary period only (NAB's first min(15%, 750) rows; the
product's defaults unless --model is given, the time column read as train reads it), `export` the
run (float32), then `detect` the whole file through the device runtime (the probation values warm
the scorer up; NAB never scores them). Each file's scores are written as a NAB results file
(timestamp,value,anomaly_score,label) under WORK/results/edgeForecast/ and scored with the port of
NAB's scorer in nab_scorer.py: the three application profiles, the threshold optimised over the
files run (NAB's protocol) and the product's own default threshold (0.5, no optimisation).

    nice -n 19 .venv/bin/python benchmarks/nab.py --nab PATH [--files all|CATEGORY|FILE,...]
        [--model lstm|ar|auto] [--work runs/nab] [--out benchmarks/results/nab.md]
    .venv/bin/python benchmarks/nab.py --nab PATH --check numenta,windowedGaussian   # the port alone

NAB (data/, labels/; results/ and config/ for --check and the published detectors' scores on the
same files): `git clone https://github.com/numenta/NAB`, given by --nab or the NAB_ROOT variable.
A file that fails (too short, refused by train) is reported in one line, scored as detecting
nothing, and the run goes on.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import nab_scorer as ns  # noqa: E402
from _common import host_line  # noqa: E402

DETECTOR = "edgeForecast"
PRODUCT_THRESHOLD = 0.5  # edge_forecast.edge.anomaly.DEFAULT_THRESHOLD: a tail probability of 1e-5
BOARD = ("ARTime", "numenta", "contextOSE", "knncad", "randomCutForest", "twitterADVec", "windowedGaussian",
         "random")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def nab_root(given: str | None) -> Path:
    text = given or os.environ.get("NAB_ROOT")
    root = Path(text) if text else None
    if root is None or not (root / "data").is_dir() or not (root / "labels" / "combined_windows.json").is_file():
        where = f"{root} has no data/ and labels/combined_windows.json" if root else "no NAB folder given"
        say(f"nab: {where}; get it with `git clone https://github.com/numenta/NAB` and pass --nab PATH "
            "(or set NAB_ROOT)")
        raise SystemExit(2)
    return root


def choose(root: Path, files: str) -> list[str]:
    everything = sorted(json.loads((root / "labels" / "combined_windows.json").read_text()))
    if files == "all":
        return everything
    chosen = []
    for part in files.split(","):
        part = part.strip().rstrip("/")
        found = [name for name in everything if name == part or name.split("/")[0] == part]
        if not found:
            say(f"nab: --files: {part!r} is neither a NAB category nor a labelled file "
                f"(categories: {', '.join(sorted({n.split('/')[0] for n in everything}))})")
            raise SystemExit(2)
        chosen += [name for name in found if name not in chosen]
    return chosen


@dataclass
class FileRun:
    name: str
    rows: int
    probation: int
    train_s: float = 0.0
    export_s: float = 0.0
    detect_s: float = 0.0
    model: str = ""
    wall_s: float = 0.0  # the whole file: train, export, detect (and a second attempt, if any)
    model_option: str | None = None  # --model as given
    cpu_s: float = 0.0  # CPU seconds of this process and its children (the converter's) for the file
    flagged: int = 0  # product flags (score >= 0.5) after probation
    error: str | None = None
    note: str | None = None


def cpu_seconds() -> float:
    """CPU time: on a shared machine the wall time says more about the neighbours than the work."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        head = next(reader)
        return head, [row for row in reader if row]


def run_file(root: Path, name: str, work: Path, model: str | None) -> tuple[FileRun, np.ndarray]:
    """Train on the probation, export, detect the whole file: the anomaly score of every row
    (0 where the product gives none: the forecaster's first window and the scorer's warm-up)."""
    import edge_forecast as ef
    from edge_forecast.detect import detect_file
    from edge_forecast.errors import UserError
    from edge_forecast.tabular import ReadOptions, read_column

    head, rows = read_rows(root / "data" / name)
    probation = ns.probation_length(len(rows))
    run = FileRun(name, len(rows), probation, model_option=model)
    scores = np.zeros(len(rows))
    folder = work / "files" / name.replace("/", "__").removesuffix(".csv")
    folder.mkdir(parents=True, exist_ok=True)
    train_file = folder / "probation.csv"
    with open(train_file, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        writer.writerows(rows[:probation])
    cpu = cpu_seconds()
    began = time.perf_counter()

    def pipeline(time_column: str | None):
        started = time.perf_counter()
        ef.train(folder / "run", signal=train_file, column="value", time_column=time_column, models=model,
                 force=True, quiet=True)
        run.train_s = time.perf_counter() - started
        record = json.loads((folder / "run" / "training.json").read_text())
        profile = record.get("profile_choice") or {}
        run.model = ",".join(record["models"]) + (" + seasonal profile" if profile.get("used") else "")
        started = time.perf_counter()
        ef.export(folder / "run", folder / "bundle", quant="float32", force=True, quiet=True)
        run.export_s = time.perf_counter() - started
        started = time.perf_counter()
        found = detect_file(root / "data" / name, folder / "bundle", folder / "detect.csv", column="value",
                            read=ReadOptions(time_column=time_column), force=True, plot=False)
        run.detect_s = time.perf_counter() - started
        return found

    try:
        try:
            # NAB scores rows: a file the reader would put on a grid (irregular sampling) is read as a
            # plain column instead, as a refused one is below
            gridded = read_column(root / "data" / name, ReadOptions(column="value")).regridded
        except UserError:
            gridded = None  # refused: the same refusal comes from train below
        try:
            if gridded:
                run.note = f"time column irregular ({gridded.split(';')[0]}): run without it"
                found = pipeline("none")
            else:
                found = pipeline(None)
        except UserError as error:
            # NAB scores rows. Where the time column makes train or detect refuse the file (irregular
            # sampling, a duplicated or out-of-order timestamp: every such refusal suggests --resample,
            # which would change the rows), the file is run again read as a plain column (--time-column
            # none): no seasonal profile from the clock then
            if "--resample" not in str(error):
                raise
            run.note = ("time column refused (" + str(error).split(": ", 1)[-1].split(";")[0]
                        + "): run without it")
            found = pipeline("none")
    except Exception as error:  # noqa: BLE001 - one line per failed file, the run goes on
        text = str(error).splitlines()[0] if str(error) else ""
        run.error = text if isinstance(error, UserError) else f"{type(error).__name__}: {text}"
        return run, scores
    finally:
        run.cpu_s = cpu_seconds() - cpu
        run.wall_s = time.perf_counter() - began
    if found.start + len(found.rows) != len(rows):
        run.error = f"detect read {found.start + len(found.rows)} values of {len(rows)} rows"
        return run, np.zeros(len(rows))
    scores[found.start:] = [0.0 if r.score is None else r.score for r in found.rows]
    run.flagged = int((scores[probation:] >= PRODUCT_THRESHOLD).sum())
    return run, scores


def onsets(scores: np.ndarray) -> np.ndarray:
    """The product's alarms: 1 at the first value of each stretch it flags (score >= 0.5 after a value
    below), 0 elsewhere. NAB counts every row at or above the threshold as a detection and charges
    each one outside a window as a false positive, while a device raises one alarm per stretch."""
    flagged = scores >= PRODUCT_THRESHOLD
    first = flagged & ~np.concatenate([[False], flagged[:-1]])
    return first.astype(float)


def write_results(root: Path, work: Path, file: ns.Labelled, scores: np.ndarray) -> Path:
    """NAB's results file: timestamp,value,anomaly_score,label (1 inside a window)."""
    _, rows = read_rows(root / "data" / file.name)
    label = np.zeros(file.rows, dtype=int)
    for first, last in file.windows:
        label[first:last + 1] = 1
    path = ns.results_path(work / "results", DETECTOR, file.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "value", "anomaly_score", "label"])
        for row, score, lab in zip(rows, scores, label, strict=True):
            writer.writerow([row[0], row[1], repr(float(score)), lab])
    return path


def published(root: Path, files: list[ns.Labelled], detector: str) -> dict[str, np.ndarray] | None:
    paths = {f.name: ns.results_path(root / "results", detector, f.name) for f in files}
    if not all(p.is_file() for p in paths.values()):
        return None
    return {name: ns.read_scores(p) for name, p in paths.items()}


def check(root: Path, detectors: list[str]) -> list[dict]:
    """The port against NAB's published final scores (results/final_results.json), full corpus:
    at the published thresholds (config/thresholds.json) and at the port's own optimised ones."""
    files = list(ns.load_corpus(root).values())
    final = json.loads((root / "results" / "final_results.json").read_text())
    thresholds = json.loads((root / "config" / "thresholds.json").read_text())
    out = []
    for detector in detectors:
        if detector not in final or detector not in thresholds:
            say(f"nab: {detector} is not in results/final_results.json and config/thresholds.json; skipped")
            continue
        scores = published(root, files, detector)
        if scores is None:
            say(f"nab: no results/{detector}/ for every labelled file in {root}; skipped")
            continue
        for profile in ns.PROFILES:
            given = ns.score_corpus(files, scores, profile, thresholds[detector][profile.name]["threshold"])
            best = ns.score_corpus(files, scores, profile)
            out.append({"detector": detector, "profile": profile.name, "published": final[detector][profile.name],
                        "port_at_published_threshold": given.normalised, "threshold": given.threshold,
                        "port_optimised": best.normalised, "optimised_threshold": best.threshold})
            say(f"{detector:>16} {profile.name:<18} published {final[detector][profile.name]:7.3f}   port "
                f"{given.normalised:7.3f} (its threshold {given.threshold:.6g}); optimised {best.normalised:7.3f} "
                f"at {best.threshold:.6g}")
    return out


def check_table(rows: list[dict]) -> str:
    lines = ["| detector | profile | published (final_results.json) | port, published threshold | port, own "
             "optimised threshold |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['detector']} | {r['profile']} | {r['published']:.4f} | "
                     f"{r['port_at_published_threshold']:.4f} (t = {r['threshold']:.6g}) | "
                     f"{r['port_optimised']:.4f} (t = {r['optimised_threshold']:.6g}) |")
    return "\n".join(lines)


def markdown(report: dict, files: list[ns.Labelled], args) -> str:
    runs = report["files"]
    failed = [r for r in runs if r["error"]]
    names = ", ".join(sorted({f.name.split("/")[0] for f in files}))
    windows = sum(f["windows"] for f in report["scores"]["standard/optimised"]["files"])
    out = ["# edge-forecast on the Numenta Anomaly Benchmark\n",
           f"Regenerate: `{report['command']}`\n", f"Host: {report['host']}\n",
           f"Measured: {report['date']}; wall time {report['wall_seconds'] / 60:.1f} min for {len(files)} files "
           f"({report['wall_seconds'] / len(files):.0f} s per file: train + export + detect; CPU "
           f"{sum(r['cpu_s'] for r in runs) / len(files):.0f} s per file, the machine shared with other work)\n",
           *([f"Made in parts (`--reuse`): {report['reused']} of the files were run by earlier invocations with "
              "the same options and work folder; the wall time is the files' own wall times summed.\n"]
             if report.get("reused") else []),
           f"Files: {len(files)} of NAB's 58 ({names}); {windows} anomaly windows. Model: "
           + (f"`train --model {args.model}`, the other options the product's defaults" if args.model
              else "the product's defaults (`train` with no model options)"),
           "",
           "Protocol (NAB's causal one): per file, `train` on the probationary period only (the first "
           "min(15%, 750) rows), `export --quant float32`, then `detect` the whole file through the device "
           "runtime (ai-edge-litert), each value scored from the values before it; the probation's scores warm "
           "the scorer up and NAB never counts them. Scores: `benchmarks/nab_scorer.py`, the port of NAB's "
           "scorer (normalised: 0 = the null detector, 100 = every window detected at its start).",
           "",
           "| profile | edge-forecast scores, threshold optimised on these files (NAB's protocol) | edge-forecast "
           "scores at its default threshold 0.5 | edge-forecast alarms: the first value of each stretch flagged at "
           "0.5 |",
           "|---|---|---|---|"]
    for profile in ns.PROFILES:
        best = report["scores"][f"{profile.name}/optimised"]
        fixed = report["scores"][f"{profile.name}/product_0.5"]
        alarms = report["scores"][f"{profile.name}/alarms_0.5"]
        out.append(f"| {profile.name} | **{best['normalised']:.1f}** (t = {best['threshold']:.4g}) | "
                   f"{fixed['normalised']:.1f} | {alarms['normalised']:.1f} |")
    if report["published_same_files"]:
        out += ["", "Published detectors scored by the port on the same files (their results files in NAB's results/;"
                " at their published corpus thresholds, and optimised on these files as edge-forecast's first "
                "column is):", "",
                "| detector | standard | reward_low_FP_rate | reward_low_FN_rate |", "|---|---|---|---|"]
        for detector, per in report["published_same_files"].items():
            cells = [f"{per[p.name]['at_published_threshold']:.1f} / {per[p.name]['optimised_on_these_files']:.1f}"
                     for p in ns.PROFILES]
            out.append(f"| {detector} | " + " | ".join(cells) + " |")
    per_file = {f["name"]: f for f in report["scores"]["standard/optimised"]["files"]}
    fixed_file = {f["name"]: f for f in report["scores"]["standard/product_0.5"]["files"]}
    alarm_file = {f["name"]: f for f in report["scores"]["standard/alarms_0.5"]["files"]}
    threshold = report["scores"]["standard/optimised"]["threshold"]
    out += ["", f"Per file (standard profile; detections: rows after the probation scored >= {threshold:.4g}, the "
            "optimised threshold, and >= 0.5; the rows themselves are in the JSON):", "",
            "| file | rows | probation | model | train s | export s | detect s | CPU s | windows found (t opt.) | "
            "detections in / outside windows (t opt.) | file score (t opt.) | windows found (0.5) | "
            "detections in / outside (0.5) | alarms in / outside windows, file score |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        f, g, a = per_file[run["name"]], fixed_file[run["name"]], alarm_file[run["name"]]
        what = (f"FAILED: {run['error']}" if run["error"]
                else run["model"] + (f" ({run['note']})" if run["note"] else ""))
        out.append(f"| {run['name']} | {run['rows']:,} | {run['probation']} | {what} | {run['train_s']:.0f} | "
                   f"{run['export_s']:.0f} | {run['detect_s']:.1f} | {run['cpu_s']:.0f} | "
                   f"{f['found']}/{f['windows']} | "
                   f"{f['tp_rows']} / "
                   f"{f['fp_rows']} | {f['score']:.2f} | {g['found']}/{g['windows']} | {g['tp_rows']} / "
                   f"{g['fp_rows']} | {a['tp_rows']} / {a['fp_rows']}, {a['score']:.2f} |")
    if failed:
        out += ["", f"{len(failed)} file(s) failed and count as detecting nothing."]
    if report.get("port_check"):
        out += ["", "The port checked against NAB's published final scores (whole corpus, the detectors' results "
                "files):", "", check_table(report["port_check"])]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", help="NAB checkout (git clone https://github.com/numenta/NAB); else $NAB_ROOT")
    parser.add_argument("--files", default="all", help="all, NAB categories and/or files, comma-separated")
    parser.add_argument("--model", default=None, help="train --model (default: the product's default)")
    parser.add_argument("--work", default="runs/nab", help="runs, bundles and NAB results files go here")
    parser.add_argument("--out", default=None, help="the report: OUT.md and OUT.json beside it")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the files that a run with the same --model and --work finished (a run in parts)")
    parser.add_argument("--check", default=None,
                        help="only check the scorer port on these published detectors (comma-separated)")
    args = parser.parse_args(argv)
    root = nab_root(args.nab)
    given = argv if argv is not None else sys.argv[1:]
    command = "nice -n 19 .venv/bin/python benchmarks/nab.py " + " ".join(given)
    if args.check:
        rows = check(root, [d.strip() for d in args.check.split(",")])
        if args.out:
            Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
            Path(args.out).with_suffix(".md").write_text(check_table(rows) + "\n")
        return 0
    names = choose(root, args.files)
    corpus = ns.load_corpus(root, names)
    files = [corpus[n] for n in names]
    work = Path(args.work)
    started = time.perf_counter()
    runs, scores = [], {}
    reused = 0
    for i, file in enumerate(files, 1):
        done = work / "files" / file.name.replace("/", "__").removesuffix(".csv") / "nab_run.json"
        result = ns.results_path(work / "results", DETECTOR, file.name)
        if args.reuse and done.is_file() and result.is_file():
            run = FileRun(**json.loads(done.read_text()))
            if run.model_option == args.model:
                runs.append(run)
                scores[file.name] = ns.read_scores(result)
                reused += 1
                say(f"[{i}/{len(files)}] {file.name}: reused from {done.parent}")
                continue
        run, scores[file.name] = run_file(root, file.name, work, args.model)
        runs.append(run)
        write_results(root, work, file, scores[file.name])
        done.write_text(json.dumps(asdict(run)) + "\n")
        if run.error:
            say(f"[{i}/{len(files)}] {file.name}: FAILED ({run.error}); scored as detecting nothing")
        else:
            say(f"[{i}/{len(files)}] {file.name}: {file.rows:,} rows, probation {file.probation}, train "
                f"{run.train_s:.0f} s, export {run.export_s:.0f} s, detect {run.detect_s:.1f} s "
                f"(wall {run.wall_s:.0f} s, CPU {run.cpu_s:.0f} s)"
                + (f", {run.note}" if run.note else "") + ", "
                f"{run.flagged} flagged")
    wall = time.perf_counter() - started
    if reused:  # a run made in parts (--reuse): the files' own times, summed
        wall = sum(r.wall_s for r in runs)
    thresholds = json.loads((root / "config" / "thresholds.json").read_text()) \
        if (root / "config" / "thresholds.json").is_file() else {}
    report = {"command": command, "host": host_line(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "wall_seconds": wall, "reused": reused, "files": [asdict(r) for r in runs], "scores": {},
              "published_same_files": {}}
    alarms = {name: onsets(values) for name, values in scores.items()}
    for profile in ns.PROFILES:
        for label, threshold, given in (("optimised", None, scores), ("product_0.5", PRODUCT_THRESHOLD, scores),
                                        ("alarms_0.5", PRODUCT_THRESHOLD, alarms)):
            result = ns.score_corpus(files, given, profile, threshold)
            report["scores"][f"{profile.name}/{label}"] = {
                "normalised": result.normalised, "raw": result.raw, "threshold": result.threshold,
                "files": [{"name": f.name, "score": f.score, "windows": f.windows, "found": f.windows_found,
                           "tp_rows": f.tp, "fp_rows": f.fp,
                           # the rows detected (0-based); at 0.5 they are the same for every profile
                           **({"detections": list(f.detections)} if threshold is None or profile is ns.PROFILES[0]
                              else {})} for f in result.files]}
        for detector in BOARD:
            theirs = published(root, files, detector)
            if theirs is None or detector not in thresholds:
                continue
            given = ns.score_corpus(files, theirs, profile, thresholds[detector][profile.name]["threshold"])
            best = ns.score_corpus(files, theirs, profile)
            report["published_same_files"].setdefault(detector, {})[profile.name] = {
                "at_published_threshold": given.normalised, "optimised_on_these_files": best.normalised}
    if (root / "results" / "final_results.json").is_file():
        report["port_check"] = check(root, list(BOARD))
    for key, value in report["scores"].items():
        say(f"{key:<32} {value['normalised']:7.2f}  (threshold {value['threshold']:.4g})")
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(report) + "\n")
        Path(args.out).with_suffix(".md").write_text(markdown(report, files, args) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
