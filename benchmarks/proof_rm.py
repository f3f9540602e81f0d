"""Measure the proof-rm pipeline and write docs/results/proof-rm.md.

What it runs, in a fresh temporary project home:
1. `reprolab run proof-rm --preset P --json` cold, then the same command again
   (every stage cached), and reports both wall times and their ratio;
2. reads the evaluation report of the cold run: the reward model beside the
   majority, random and TF-IDF + logistic-regression baselines, all trained on
   the same training split, on held-out problems and on the external
   human-labelled sets (Open Proof Corpus, PRMBench), which training never saw;
3. `reprolab eval-rm` on the Open Proof Corpus in a new process, for scoring
   throughput in proofs per second with a cold embedding cache.

Usage: python benchmarks/proof_rm.py [--preset default] [--out docs/results/proof-rm.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.common import machine, run_cli  # noqa: E402

SHARED = PROJECT_ROOT.parent / "shared" / "data"
SCORERS = ("reward_model", "reward_model_min_step", "tfidf_logreg", "majority", "random")
METRICS = ("accuracy", "balanced_accuracy", "auroc", "f1_incorrect", "ece")




def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def metric_table(entry: dict) -> list[str]:
    lines = ["| scorer | " + " | ".join(METRICS) + " | best-of-n |", "|---" * (len(METRICS) + 2) + "|"]
    reports = {"reward_model": entry["reward_model"], "reward_model_min_step": entry["reward_model_min_step"], **entry["baselines"]}
    for name in SCORERS:
        if name not in reports:
            continue
        metrics, bon = reports[name]["metrics"], reports[name]["best_of_n"]
        cells = [fmt(metrics.get(key)) for key in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt(bon.get('reward_model'))} |")
    return lines


def best_of_n_line(entry: dict) -> str:
    bon = entry["reward_model"]["best_of_n"]
    if not bon.get("problems"):
        return "best-of-n: no problem has two or more proofs."
    tfidf = entry["baselines"].get("tfidf_logreg", {}).get("best_of_n", {})
    return (f"best-of-n over {int(bon['problems'])} problems with {bon['mean_n']:.1f} proofs each: "
            f"reward model picks a correct proof for {bon['reward_model']:.3f} of problems, TF-IDF "
            f"{fmt(tfidf.get('reward_model'))}, random choice {bon['random_expected']:.3f} (expected), "
            f"oracle {bon['oracle']:.3f}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "results" / "proof-rm.md")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="score only the first N Open Proof Corpus records in the throughput measurement")
    parser.add_argument("--report-only", type=Path, metavar="HOME",
                        help="write the quality tables from the newest evaluation in this project home, without runs or timings")
    args = parser.parse_args()

    if args.report_only is not None:
        newest = max((args.report_only / ".reprolab" / "store" / "evaluation").glob("*.json"), key=lambda p: p.stat().st_mtime)
        write_page(args, json.loads(newest.read_text()), None, None, None)
        return

    with tempfile.TemporaryDirectory(prefix="reprolab-bench-") as scratch:
        home = Path(scratch)
        command = ["run", "proof-rm", "--preset", args.preset, "--json"]
        summary, cold = run_cli(command, home)
        _, cached = run_cli(command, home)
        reports = json.loads((home / summary["artifacts"]["evaluation"]).read_text())
        throughput = None
        opc = SHARED / "opc" / "opc_dev.parquet"
        if opc.exists():
            limit = ["--limit", str(args.eval_limit)] if args.eval_limit else []
            evaluated, _ = run_cli(["eval-rm", "--model", str(home / summary["artifacts"]["checkpoint"]),
                                    "--data", str(opc), "--json", *limit], home)
            throughput = evaluated["metrics"]["proofs_per_second"]
    write_page(args, reports, cold, cached, throughput)


def write_page(args: argparse.Namespace, reports: dict, cold: float | None, cached: float | None,
               throughput: float | None) -> None:
    lines = [
        "# proof-rm results",
        "",
        f"Written by `python benchmarks/proof_rm.py --preset {args.preset}"
        + (f" --report-only {args.report_only}" if args.report_only else "")
        + (f" --eval-limit {args.eval_limit}" if args.eval_limit else "")
        + f"` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {machine(torch_threads=True)}; load average {os.getloadavg()[0]:.1f} when the page was written "
        "(other jobs may have shared the cores, which inflates wall times but not the quality figures).",
        "",
        "The reward model and every baseline train on the same training split of generated triplets "
        "(built-in bank and IMO-ProofBench problems when present). The Open Proof Corpus and PRMBench sets "
        "are human-labelled and never used in training. Scores are P(correct); AUROC and F1 treat "
        "`incorrect` as the positive class; `reward_model_min_step` scores a proof by its weakest step.",
        "",
    ]
    for name, entry in reports.items():
        n = int(entry["reward_model"]["metrics"]["n"])
        rate = entry["reward_model"]["metrics"]["positive_rate"]
        lines += [f"## {name} ({n} proofs, {rate:.1%} incorrect)", "", *metric_table(entry), "", best_of_n_line(entry), ""]
        by_type = entry["reward_model"]["by_error_type"]
        if len(by_type) > 1:
            lines += ["Reward model by error type (`none` = correct proofs):", "",
                      "| error type | n | accuracy | mean P(correct) |", "|---|---|---|---|"]
            lines += [f"| {row['group']} | {int(row['n'])} | {fmt(row['accuracy'])} | {fmt(row['mean_score'])} |" for row in by_type]
            lines.append("")
    lines += ["## Speed", ""]
    if cold is None or cached is None:
        lines.append("- Not measured in this run (`--report-only`).")
    else:
        lines.append(f"- `reprolab run proof-rm --preset {args.preset}` cold: {cold:.0f} s; again with every stage "
                     f"cached: {cached:.0f} s; ratio cold / cached = {cold / cached:.1f}. Both include Prefect's "
                     "ephemeral server start.")
    if throughput is not None:
        lines.append(f"- Reward-model scoring on the Open Proof Corpus (`reprolab eval-rm`, cold embedding cache, "
                     f"long proofs windowed): {throughput:.1f} proofs per second.")
    for name, entry in reports.items():
        if entry.get("proofs_per_second"):
            lines.append(f"- Scoring inside the evaluate stage, {name}: {entry['proofs_per_second']:.1f} proofs per second.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
