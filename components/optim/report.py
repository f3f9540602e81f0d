"""Comparison table, claim checks and plots over a grid of finished runs.

A grid row is a dict with the cell (model, optimizer, schedule, budget, seed),
its status ("ok", "diverged" or "failed") and the run's summary and curves.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TABLE_COLUMNS = ("model", "optimizer", "schedule", "budget", "seed", "status", "final_val_loss", "final_val_accuracy",
                 "steps_to_target", "grad_kurtosis", "grad_tail_index", "seconds_per_step", "diverged_step")


def steps_to_target(val_curve: list[dict[str, float]], target: float) -> int | None:
    """Return the first evaluation step whose validation loss is at most `target`, or None."""
    for point in val_curve:
        if math.isfinite(point["val_loss"]) and point["val_loss"] <= target:
            return int(point["step"])
    return None


def with_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add `steps_to_target` to every row: the target is AdamW's final validation loss in the same
    (model, schedule, budget, seed) group, so AdamW's own value is when it first got there."""
    targets = {(r["model"], r["schedule"], r["budget"], r["seed"]): r.get("final_val_loss")
               for r in rows if r["optimizer"] == "adamw" and r["status"] == "ok"}
    out = []
    for row in rows:
        target = targets.get((row["model"], row["schedule"], row["budget"], row["seed"]))
        steps = steps_to_target(row.get("val", []), target) if target is not None else None
        out.append({**row, "steps_to_target": steps})
    return out


def comparison_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one flat record per run with TABLE_COLUMNS (missing values as None)."""
    return [{column: row.get(column) for column in TABLE_COLUMNS} for row in with_targets(rows)]


def _final(rows, model, optimizer, schedule, budget) -> list[float]:
    return [r["final_val_loss"] for r in rows if (r["model"], r["optimizer"], r["schedule"], r["budget"])
            == (model, optimizer, schedule, budget) and r["status"] == "ok" and r.get("final_val_loss") is not None]


def _best_over_schedules(rows, model, optimizer, budget) -> float | None:
    values = [r["final_val_loss"] for r in rows if (r["model"], r["optimizer"], r["budget"]) == (model, optimizer, budget)
              and r["status"] == "ok" and r.get("final_val_loss") is not None]
    return min(values) if values else None


def claim_checks(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Compute the numbers behind the three claims; a claim whose runs are missing is left out.

    - msgdw_gap.<model>: (best mSGDW val loss - best AdamW val loss) / best AdamW val loss at the
      largest budget, each optimizer at its best schedule.
    - uba_vs_cosine.<label>.win_rate and .mean_rel_diff: over (model, optimizer) pairs at the smallest
      budget, the share where UBA's final val loss is below cosine's, and the mean of (uba - cos) / cos.
    - <shampoo>.steps_ratio: median over groups of steps to reach AdamW's final val loss, divided by
      AdamW's steps; <shampoo>.reached_fraction: share of groups where it got there at all.
    """
    checks: dict[str, float] = {}
    ok = [r for r in with_targets(rows) if r["status"] == "ok"]
    if not ok:
        return checks
    budgets = sorted({r["budget"] for r in ok})
    models = sorted({r["model"] for r in ok})

    # Claim 1: mSGDW close to AdamW on DNT, clearly worse on the vanilla model.
    for model in models:
        adamw = _best_over_schedules(ok, model, "adamw", budgets[-1])
        msgdw = _best_over_schedules(ok, model, "msgdw", budgets[-1])
        if adamw and msgdw is not None:
            checks[f"msgdw_gap.{model}"] = (msgdw - adamw) / adamw

    # Claim 2: UBA against cosine at the smallest budget.
    labels = sorted({r["schedule"] for r in ok if r["schedule"].startswith("uba")})
    for label in labels:
        diffs = []
        for model in models:
            for optimizer in sorted({r["optimizer"] for r in ok}):
                uba = _final(ok, model, optimizer, label, budgets[0])
                cosine = _final(ok, model, optimizer, "cosine", budgets[0])
                if uba and cosine:
                    diffs.append((statistics.mean(uba) - statistics.mean(cosine)) / statistics.mean(cosine))
        if diffs:
            checks[f"uba_vs_cosine.{label}.win_rate"] = sum(d < 0 for d in diffs) / len(diffs)
            checks[f"uba_vs_cosine.{label}.mean_rel_diff"] = statistics.mean(diffs)

    # Claim 3: Shampoo reaches AdamW's final loss in fewer steps.
    adamw_steps = {(r["model"], r["schedule"], r["budget"], r["seed"]): r["steps_to_target"]
                   for r in ok if r["optimizer"] == "adamw" and r["steps_to_target"]}
    for shampoo in ("shampoo2", "shampoo1"):
        ratios, groups = [], 0
        for r in ok:
            key = (r["model"], r["schedule"], r["budget"], r["seed"])
            if r["optimizer"] == shampoo and key in adamw_steps:
                groups += 1
                if r["steps_to_target"]:
                    ratios.append(r["steps_to_target"] / adamw_steps[key])
        if groups:
            checks[f"{shampoo}.reached_fraction"] = len(ratios) / groups
            if ratios:
                checks[f"{shampoo}.steps_ratio"] = statistics.median(ratios)
    return checks


def markdown_table(records: list[dict[str, Any]], columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """Render records as a GitHub-flavoured Markdown table (floats with 4 significant digits)."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in records]
    return "\n".join(lines) + "\n"


def _legend(ax, **options) -> None:
    if ax.get_legend_handles_labels()[0]:  # every run of the figure may have failed
        ax.legend(**options)


def curves_figure(rows: list[dict[str, Any]], model: str, schedule: str, budget: int):
    """Plot validation loss against step for each optimizer on one model, schedule and budget."""
    figure, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        if (row["model"], row["schedule"], row["budget"]) == (model, schedule, budget) and row.get("val"):
            steps = [p["step"] for p in row["val"]]
            ax.plot(steps, [p["val_loss"] for p in row["val"]], marker="o", markersize=3,
                    label=f"{row['optimizer']}{' (diverged)' if row['status'] == 'diverged' else ''}")
    ax.set(xlabel="step", ylabel="validation loss", title=f"{model}, {schedule}, budget {budget}")
    _legend(ax)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def schedules_figure(rows: list[dict[str, Any]], model: str):
    """Plot final validation loss per schedule, one line per optimizer and budget."""
    figure, ax = plt.subplots(figsize=(7, 4))
    schedules = sorted({r["schedule"] for r in rows if r["model"] == model})
    series: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for row in rows:
        if row["model"] == model and row["status"] == "ok" and row.get("final_val_loss") is not None:
            series[(row["optimizer"], row["budget"])][row["schedule"]] = row["final_val_loss"]
    for (optimizer, budget), values in sorted(series.items()):
        ax.plot(schedules, [values.get(s, math.nan) for s in schedules], marker="o", label=f"{optimizer}, T={budget}")
    ax.set(xlabel="schedule", ylabel="final validation loss", title=model)
    ax.tick_params(axis="x", rotation=30)
    _legend(ax, fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def lr_figure(rows: list[dict[str, Any]], budget: int):
    """Plot lr / peak lr of every schedule over one budget, from the learning rates the runs recorded."""
    figure, ax = plt.subplots(figsize=(6, 4))
    seen = set()
    for row in rows:
        if row["budget"] == budget and row["schedule"] not in seen and row.get("lr") and row["status"] == "ok":
            seen.add(row["schedule"])
            peak = max(row["lr"])
            ax.plot([lr / peak for lr in row["lr"]], label=row["schedule"])
    ax.set(xlabel="step", ylabel="lr / peak lr", title=f"schedules over T = {budget}")
    _legend(ax)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    return figure
