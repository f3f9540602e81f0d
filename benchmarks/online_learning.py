"""Measure the online-learning pipeline and write docs/results/online-learning.md.

What it runs:
1. `reprolab run online-learning --preset P --json` in a fresh temporary
   project home, then reads the versioned tables of that run (dimensions,
   play, separation) and writes them as the results table;
2. the largest random classes whose PFLdim search finishes within a time
   budget (60 s by default), for several instance and label space sizes,
   growing the number of hypotheses until the search stops at its limit;
3. how the cost of the PFLdim search grows with the instance space and with
   the label space at a fixed number of hypotheses, as memoised states and
   as time relative to the smallest size.

Usage: python benchmarks/online_learning.py [--preset default] [--budget 60] [--out docs/results/online-learning.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.common import machine, run_cli  # noqa: E402
from components.online.classes import random_class  # noqa: E402
from components.online.dimensions import LimitExceeded, PartialFeedbackGame, SearchLimits  # noqa: E402

SIZE_SERIES = ((3, 3), (4, 4), (6, 4), (8, 4), (6, 6))  # (instances, labels) for the size limits
HYPOTHESIS_STEPS = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 2048, 4096)
GROWTH_HYPOTHESES = 16
GROWTH_INSTANCES = (1, 2, 3, 4, 6, 8)
GROWTH_LABELS = (2, 3, 4, 5, 6, 8)
REPEATS = 3




def timed_pfl(n_hypotheses: int, n_instances: int, n_labels: int, seed: int, budget: float) -> dict:
    hclass = random_class(n_hypotheses, n_instances, n_labels, 0.5, np.random.default_rng(seed))
    game = PartialFeedbackGame(hclass, SearchLimits(max_seconds=budget, max_states=50_000_000))
    started = time.perf_counter()
    try:
        value = game.dimension()
    except LimitExceeded as exc:
        return {"ok": False, "seconds": time.perf_counter() - started, "states": exc.states, "message": str(exc)}
    return {"ok": True, "seconds": time.perf_counter() - started, "states": len(game.memo), "pfl": value}


def size_limits(budget: float) -> list[dict]:
    """For each (instances, labels), grow |H| until one search exceeds the budget."""
    rows = []
    for n_instances, n_labels in SIZE_SERIES:
        largest = None
        stopped = None
        for n in HYPOTHESIS_STEPS:
            result = timed_pfl(n, n_instances, n_labels, seed=n, budget=budget)
            print(f"  |X|={n_instances} |Y|={n_labels} |H|={n}: {result}", flush=True)
            if not result["ok"]:
                stopped = (n, result)
                break
            largest = (n, result)
        rows.append({"n_instances": n_instances, "n_labels": n_labels, "largest": largest, "stopped": stopped})
    return rows


def growth(budget: float) -> dict[str, list[dict]]:
    """Median seconds and states over REPEATS random classes of GROWTH_HYPOTHESES hypotheses."""
    series: dict[str, list[dict]] = {"instances": [], "labels": []}
    for key, sizes in (("instances", GROWTH_INSTANCES), ("labels", GROWTH_LABELS)):
        for size in sizes:
            n_instances, n_labels = (size, 3) if key == "instances" else (3, size)
            results = [timed_pfl(GROWTH_HYPOTHESES, n_instances, n_labels, seed=100 + r, budget=budget)
                       for r in range(REPEATS)]
            ok = [r for r in results if r["ok"]]
            series[key].append({
                "n_instances": n_instances, "n_labels": n_labels, "completed": len(ok),
                "seconds": float(np.median([r["seconds"] for r in ok])) if ok else None,
                "states": float(np.median([r["states"] for r in ok])) if ok else None,
            })
            print(f"  growth {key}: {series[key][-1]}", flush=True)
    return series


def flow_tables(summary: dict) -> tuple[list[dict], list[dict], dict]:
    data = Path(summary["artifacts"]["data"])
    dimensions = [json.loads(line) for line in (data / "dimensions.jsonl").read_text().splitlines()]
    play = [json.loads(line) for line in (data / "play.jsonl").read_text().splitlines()]
    separation = json.loads((data / "separation.json").read_text())
    return dimensions, play, separation


def family_table(dimensions: list[dict], play: list[dict]) -> list[str]:
    lines = [
        "| family | classes | mean PFLdim | mean Ldim (full feedback) | PFLdim > Ldim | mean randomized value (lower, upper) "
        "| mean PFLdim / randomized upper | mean Helly number | optimal learner's exhaustive worst case = PFLdim |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family in sorted({r["family"] for r in dimensions}):
        rows = [r for r in dimensions if r["family"] == family and r["status"] == "ok"]
        optimal = [p for p in play if p["family"] == family and p["learner"] == "optimal-deterministic"]
        ratios = [r["pfl_dim"] / r["randomized_upper"] for r in rows if r["randomized_upper"] > 0]
        checked = [p for p in optimal if p["worst_case"] is not None]
        equal = sum(p["worst_case"] == p["pfl_dim"] for p in checked)
        lines.append(
            f"| {family} | {len(rows)} | {np.mean([r['pfl_dim'] for r in rows]):.2f} "
            f"| {np.mean([r['littlestone_dim'] for r in rows]):.2f} "
            f"| {sum(r['pfl_dim'] > r['littlestone_dim'] for r in rows)}/{len(rows)} "
            f"| ({np.mean([r['randomized_lower'] for r in rows]):.3f}, {np.mean([r['randomized_upper'] for r in rows]):.3f}) "
            f"| {np.mean(ratios):.2f} | {_mean_helly(rows)} | {equal}/{len(checked)} |"
        )
    return lines


def _mean(values: list) -> str:
    present = [v for v in values if v is not None]
    return f"{np.mean(present):.3f}" if present else "-"


def _mean_helly(rows: list[dict]) -> str:
    values = [r["helly_number"] for r in rows if r["helly_number"] is not None]
    return f"{np.mean(values):.2f}" if values else "not computed"


def learner_table(play: list[dict]) -> list[str]:
    lines = [
        "| learner | mean worst-case mistakes (exhaustive adversary) | mean mistakes against the game-tree adversary "
        "| mean regret, random sequences | max over classes of (max regret - bound) |",
        "|---|---|---|---|---|",
    ]
    for learner in ("optimal-deterministic", "randomized-grid", "majority", "repeat-last-label"):
        rows = [p for p in play if p["learner"] == learner]
        worst = _mean([p["worst_case"] for p in rows])
        game_tree = _mean([p["game_tree_mistakes"] for p in rows])
        regret = _mean([p["mean_regret"] for p in rows])
        bounded = [p["max_regret"] - p["bound"] for p in rows if p["bound"] is not None]
        excess = f"{max(bounded):.3f}" if bounded else "no bound"
        lines.append(f"| {learner} | {worst} | {game_tree} | {regret} | {excess} |")
    return lines


def separation_table(separation: dict) -> list[str]:
    horizon = separation["horizon"]
    lines = [
        f"| learner | regret after {horizon} rounds, set-realizable | regret after {horizon} rounds, superset "
        "| regret slope, superset |",
        "|---|---|---|---|",
    ]
    for name, entry in separation["learners"].items():
        lines.append(f"| {name} | {entry['set-realizable.final_regret']:.2f} | {entry['superset.final_regret']:.2f} "
                     f"| {entry['superset.slope']:.3f} |")
    return lines


def size_table(rows: list[dict], budget: float) -> list[str]:
    lines = [f"| instances | labels | largest |H| within {budget:g} s | its seconds | its memoised states "
             "| first |H| that stopped |", "|---|---|---|---|---|---|"]
    for row in rows:
        largest, stopped = row["largest"], row["stopped"]
        first_stop = f"{stopped[0]} (stopped at {stopped[1]['states']} states)" if stopped else \
            f"none up to {HYPOTHESIS_STEPS[-1]}"
        if largest:
            lines.append(f"| {row['n_instances']} | {row['n_labels']} | {largest[0]} | {largest[1]['seconds']:.2f} "
                         f"| {largest[1]['states']} | {first_stop} |")
        else:
            lines.append(f"| {row['n_instances']} | {row['n_labels']} | none | - | - | {first_stop} |")
    return lines


def growth_table(series: dict[str, list[dict]]) -> list[str]:
    lines = [f"| varied | instances | labels | completed of {REPEATS} | median memoised states "
             "| median time relative to the first row of its series |", "|---|---|---|---|---|---|"]
    for key, rows in series.items():
        base = next((r["seconds"] for r in rows if r["seconds"]), None)
        for r in rows:
            relative = f"{r['seconds'] / base:.1f}x" if r["seconds"] and base else "-"
            states = f"{r['states']:.0f}" if r["states"] is not None else "-"
            lines.append(f"| {key} | {r['n_instances']} | {r['n_labels']} | {r['completed']} | {states} | {relative} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--budget", type=float, default=60.0, help="time limit of one PFLdim search in seconds")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "results" / "online-learning.md")
    args = parser.parse_args()

    started = datetime.now(timezone.utc)
    host = f"{machine()}; 1-minute load average {os.getloadavg()[0]:.1f} at the start"
    print(f"flow: reprolab run online-learning --preset {args.preset} --json", flush=True)
    with tempfile.TemporaryDirectory(prefix="reprolab-bench-online-") as home:
        summary, flow_seconds = run_cli(["run", "online-learning", "--preset", args.preset, "--json"], Path(home))
        dimensions, play, separation = flow_tables(summary)
    print("size limits", flush=True)
    limits = size_limits(args.budget)
    print("growth", flush=True)
    series = growth(args.budget)

    command = f"python benchmarks/online_learning.py --preset {args.preset} --budget {args.budget:g}"
    text = [
        "# online-learning: results",
        "",
        "Partial-feedback online learning after \"Partial Feedback Online Learning\" (arXiv 2601.21462):",
        "each round the learner predicts, the environment reveals one correct label, and the learner never",
        "learns whether its prediction was correct. Definitions implemented: `components/online/dimensions.py`.",
        "",
        f"Produced by `{command}` on {started:%Y-%m-%d %H:%M} UTC. Machine: {host}. Other jobs shared the",
        "machine, so times are given only as limits and ratios measured within this one run.",
        "",
        f"## Dimensions by family (`--preset {args.preset}`)",
        "",
        f"From `reprolab run online-learning --preset {args.preset} --json` (MLflow run {summary['mlflow_run_id']}, "
        f"DVC data md5 {summary['dvc_data_md5']}, {flow_seconds:.0f} s wall including the temporary Prefect server).",
        "PFLdim is the exact minimax number of mistakes of a deterministic learner; the randomized value is the",
        "minimax expected number of mistakes of a randomized learner, bounded from both sides by the grid game.",
        "",
        *family_table(dimensions, play),
        "",
        "## Learners (same run)",
        "",
        "The exhaustive adversary searches every instance and witness sequence of up to |H| + 1 rounds",
        "against the learner's actual predictions; the bound is PFLdim for the optimal deterministic learner",
        "and the grid value for the randomized learner.",
        "",
        *learner_table(play),
        "",
        "## Two hypotheses outside set realizability (same run)",
        "",
        "h0(x) = {0}, h1(x) = {1}, plus labels no hypothesis accepts. Set-realizable: S_t = h*(x_t). Superset:",
        "S_t = h*(x_t) plus a random extra label, which is the witness, so h* never errs but the witnesses say",
        "nothing about h*. Numbers are for the worse of h0 and h1, averaged over the run's sequences.",
        "",
        *separation_table(separation),
        "",
        f"## Largest classes within {args.budget:g} seconds",
        "",
        "Random classes (each label in h(x) with probability 0.5); |H| grows until one exact PFLdim search",
        "hits the time limit, which stops it cleanly.",
        "",
        *size_table(limits, args.budget),
        "",
        f"## Cost growth with the instance and label spaces (|H| = {GROWTH_HYPOTHESES})",
        "",
        "Memoised states do not depend on the machine. The first row of each series takes well under a",
        "millisecond, so its time ratios are coarse.",
        "",
        *growth_table(series),
        "",
        "## What is computed, and limits",
        "",
        "- PFLdim is computed as the value of the deterministic game over collection version spaces",
        "  (hypotheses grouped by the mistakes made against each), derived from the game and checked in the",
        "  tests against a brute-force search over explicit histories. The paper's tree definition is not",
        "  reproduced; its abstract states that PFLdim tightly characterizes the minimax regret of",
        "  deterministic learners, and this project takes that minimax value as the definition.",
        "- PMSdim itself is not computed. The table gives lower and upper bounds on the randomized minimax",
        "  value, which PMSdim characterizes: the upper bound is achieved by the grid learner, and the lower",
        "  bound subtracts the proven rounding error of the grid (or uses a one-round linear program).",
        "- Nested inclusion is implemented as laminar label sets (any two sets at an instance are nested or",
        "  disjoint). A pure chain makes PFLdim 0, so it is not a useful family on its own.",
        "- Classes with |X| = 3 and |Y| = 3 have at most 7^3 = 343 distinct hypotheses, so their search cost",
        "  stops growing with |H|: duplicates add no states.",
        "- Outside set realizability the run uses one construction (superset correct sets on the",
        "  two-hypothesis class); other non-realizable regimes are not explored.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
