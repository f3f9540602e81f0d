"""Measure the optimizers pipeline and write docs/results/optimizers.md.

What it runs:
1. Step time of Shampoo (two- and one-sided) over AdamW on the default GPT
   (same model, data and batch), with the time spent in inverse roots reported
   separately, at precondition_frequency 10. All optimizers run interleaved in
   one process, so the ratios share the machine's load.
2. `reprolab run optimizers --preset P --json` in a fresh temporary project home,
   then copies its comparison table, claim numbers and plots onto the results page.

Usage: python benchmarks/optimizers.py [--preset default] [--out docs/results/optimizers.md] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.common import machine, run_cli  # noqa: E402



def step_times(preset: str, steps: int) -> dict[str, dict[str, float]]:
    """Median step time and root time per step of each optimizer on the preset's GPT, interleaved round by round."""
    import torch

    from components.optim.data import build_char_corpus, read_text
    from components.optim.experiment import ModelSettings, OptimizerSettings, build_model, build_optimizer, loss_of, text_task
    from flows.config import load_config
    from flows.optimizers import text_source

    config = load_config("optimizers", preset)
    torch.set_num_threads(config.train.threads)  # the same threads as the grid's runs
    text, _ = read_text(text_source(config), config.data.max_chars)
    corpus = build_char_corpus(text, config.data.val_fraction, config.train.seq_len + 2)
    names = ("adamw", "shampoo2", "shampoo1")
    runs = {}
    for name in names:
        torch.manual_seed(0)
        model = build_model("gpt-dnt", ModelSettings(**config.model.model_dump()), vocab_size=corpus.vocab_size,
                            seq_len=config.train.seq_len)
        settings = OptimizerSettings(lr=config.train.lr[name], weight_decay=config.train.weight_decay,
                                     betas=tuple(config.train.betas), precondition_frequency=10,
                                     max_precond_dim=config.train.max_precond_dim)
        sample, _ = text_task(corpus, config.train.seq_len, config.train.batch_size, 1, seed=0)
        runs[name] = {"model": model, "optimizer": build_optimizer(name, model, settings), "sample": sample,
                      "total": [], "optimizer_step": []}
    for step in range(steps):
        for name in names:
            run = runs[name]
            x, y = run["sample"](step)
            started = time.perf_counter()
            run["optimizer"].zero_grad()
            loss_of(run["model"], x, y).backward()
            between = time.perf_counter()
            run["optimizer"].step()
            ended = time.perf_counter()
            run["total"].append(ended - started)
            run["optimizer_step"].append(ended - between)
    out = {}
    for name, run in runs.items():
        out[name] = {"step_ms": 1000 * statistics.median(run["total"]),
                     "optimizer_step_ms": 1000 * statistics.median(run["optimizer_step"]),
                     "root_ms_per_step": 1000 * getattr(run["optimizer"], "root_seconds", 0.0) / steps,
                     "mean_step_ms": 1000 * statistics.mean(run["total"])}
    return out



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "results" / "optimizers.md")
    parser.add_argument("--steps", type=int, default=20, help="steps per optimizer in the step-time measurement")
    parser.add_argument("--home", type=Path, help="project home for the flow run (default: a temporary folder)")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    timing = step_times(args.preset, args.steps)
    # After step_times, which sets the preset's torch threads.
    host = (f"{machine(torch_threads=True)}; shared with other jobs, 1-minute load average {load:.1f} "
            "at the start")
    print(json.dumps(timing, indent=1), flush=True)
    home = args.home or Path(tempfile.mkdtemp(prefix="reprolab-bench-optimizers-"))
    home.mkdir(parents=True, exist_ok=True)  # Prefect's database cannot be created in a missing folder
    summary, seconds = run_cli(["run", "optimizers", "--preset", args.preset, "--json"], home)
    report = home / summary["artifacts"]["report"]

    plots_dir = args.out.parent / "optimizers"
    plots_dir.mkdir(parents=True, exist_ok=True)
    plots = sorted(p.name for p in report.glob("*.png"))
    for name in plots:
        shutil.copyfile(report / name, plots_dir / name)
    claims = json.loads((report / "claims.json").read_text())
    table = (report / "table.md").read_text()
    args.out.write_text(render(args, host, timing, summary, seconds, claims, table, plots), encoding="utf-8")
    print(f"wrote {args.out}")


def render(args, host, timing, summary, seconds, claims, table, plots) -> str:
    adamw = timing["adamw"]["step_ms"]
    lines = [
        "# optimizers: results",
        "",
        f"Produced by `python benchmarks/optimizers.py --preset {args.preset}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {host}.",
        "",
        f"The flow ran as `reprolab run optimizers --preset {args.preset} --json` in a fresh project home: "
        f"{seconds:.0f} s wall time (including the temporary Prefect server), MLflow run `{summary['mlflow_run_id']}`, "
        f"DVC data md5 `{summary['dvc_data_md5']}`. Cells: {summary['metrics']['cells.ok']:.0f} ok, "
        f"{summary['metrics']['cells.diverged']:.0f} diverged, {summary['metrics']['cells.failed']:.0f} failed. "
        f"Text: {summary['artifacts'].get('text_source')}.",
        "",
        "## Step time: Shampoo over AdamW on the GPT",
        "",
        f"gpt-dnt of the `{args.preset}` preset, precondition_frequency 10, {args.steps} steps per optimizer, interleaved; "
        "medians of the whole step (forward, backward, optimizer) and of the optimizer step alone. "
        "Root time is the total time in inverse roots divided by the steps (roots are recomputed every 10 steps).",
        "",
        "| optimizer | step ms (median) | ratio to AdamW | optimizer step ms | root ms per step |",
        "|---|---|---|---|---|",
    ]
    for name, row in timing.items():
        lines.append(f"| {name} | {row['step_ms']:.2f} | {row['step_ms'] / adamw:.2f} | {row['optimizer_step_ms']:.2f} | "
                     f"{row['root_ms_per_step']:.2f} |")
    lines += ["", "Target: at most 1.5x AdamW at precondition_frequency 10. The median step skips the steps that "
              "recompute roots; the mean over all steps includes them:", ""]
    lines += [f"- {name}: mean step {row['mean_step_ms']:.2f} ms, {row['mean_step_ms'] / timing['adamw']['mean_step_ms']:.2f}x "
              "AdamW's mean" for name, row in timing.items()]
    lines += ["",
              "## Claims", "",
              "Numbers computed by `components/optim/report.py:claim_checks` from the table below.", "",
              "| check | value |", "|---|---|"]
    lines += [f"| {key} | {value:.4g} |" for key, value in sorted(claims.items())]
    lines += ["", "## Comparison table", "", "`final_val_loss` is cross-entropy in nats per character (GPT) or per image (MLP). "
              "`steps_to_target` is the first evaluation step at which a run's validation loss is at most AdamW's final "
              "validation loss in the same model, schedule and budget. `seconds_per_step` is the median step time of "
              "that run (the machine was shared, so compare within a row group only).", "", table, "## Plots", ""]
    lines += [f"![{name}](optimizers/{name})" for name in plots]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
