"""Measure `reprolab serve-rm` latency and write docs/results/serve-rm.md.

Starts the server as a separate process on 127.0.0.1 (the way RL trainers use
it), then, for each batch size B, sends `--requests` sequential OpenRLHF-style
requests of B proofs and records each request's wall time on the client. A
last row sends single-proof requests from `--clients` concurrent clients, which
the server merges into shared model batches. Proofs are drawn from the built-in
problem bank's reference proofs.

Without `--model`, a reward model with the default architecture and random
weights is saved to a temporary folder: latency depends on the architecture
(encoder, step count, batch size), not on the trained weights.

Usage: python benchmarks/serve_rm.py [--model URI] [--batch-sizes 1 4 16 32] [--requests 10]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.common import machine  # noqa: E402



def default_model(folder: Path) -> str:
    import torch

    from components.rm.model import ProofRewardModel

    torch.manual_seed(0)
    return str(ProofRewardModel().save(folder / "checkpoint"))


def requests_for(batch: int, offset: int) -> dict:
    from components.proofs.bank import load_bank

    problems = load_bank(None)
    chosen = [problems[(offset + i) % len(problems)] for i in range(batch)]
    return {"query": [p.question + "\n" + "\n".join(p.reference_steps) for p in chosen], "prompts": [p.question for p in chosen]}


def percentiles(seconds: list[float]) -> tuple[float, float]:
    values = np.array(seconds) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder or MLflow URI; default: random weights, default architecture")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--requests", type=int, default=10, help="timed requests per batch size, after 2 warm-up requests")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the merged-batch row")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "results" / "serve-rm.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="serve-rm-bench-") as tmp:
        home = Path(tmp)
        model = args.model or default_model(home)
        env = {**os.environ, "REPROLAB_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
        command = [sys.executable, "-m", "flows.cli", "serve-rm", "--model", model, "--port", "0", "--max-batch", "32"]
        server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if not match:
                raise SystemExit(f"server did not start: {line!r}")
            url = f"http://127.0.0.1:{match.group(1)}/get_reward"
            rows = []
            with httpx.Client(timeout=600) as client:
                for batch in args.batch_sizes:
                    for warm in range(2):
                        client.post(url, json=requests_for(batch, warm)).raise_for_status()
                    seconds = []
                    for index in range(args.requests):
                        body = requests_for(batch, index * batch)
                        started = time.perf_counter()
                        client.post(url, json=body).raise_for_status()
                        seconds.append(time.perf_counter() - started)
                    p50, p95 = percentiles(seconds)
                    rows.append((f"{batch}", "1", p50, p95, batch * len(seconds) / sum(seconds)))
                    print(f"batch {batch}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)

                def one(index: int) -> float:
                    started = time.perf_counter()
                    httpx.post(url, json=requests_for(1, index), timeout=600).raise_for_status()
                    return time.perf_counter() - started

                total = args.clients * max(1, args.requests // 2)
                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=args.clients) as pool:
                    seconds = list(pool.map(one, range(total)))
                wall = time.perf_counter() - started
                p50, p95 = percentiles(seconds)
                rows.append(("1", str(args.clients), p50, p95, total / wall))
                print(f"{args.clients} clients, batch 1: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)

    load_after = os.getloadavg()[0]
    model_text = args.model or "default architecture (all-MiniLM-L6-v2 encoder, d_model 256, 2 layers), random weights"
    lines = [
        "# serve-rm latency",
        "",
        f"Written by `{' '.join(['python benchmarks/serve_rm.py', *sys.argv[1:]])}` on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine: {machine()}. CPU only. The 1-minute load average was {load_before:.1f} at the start and"
        f" {load_after:.1f} at the end. With a load above the core count, other jobs shared the cores, so absolute"
        " times are upper bounds, and rows are comparable only with each other.",
        f"- Model: {model_text}.",
        f"- Server: `reprolab serve-rm --max-batch 32` on 127.0.0.1, OpenRLHF request shape (`POST /get_reward`).",
        f"- Proofs: reference proofs of the built-in bank (question as prompt, proof as response).",
        f"- {args.requests} timed sequential requests per row after 2 warm-up requests; the last row sends"
        f" {args.clients * max(1, args.requests // 2)} single-proof requests from {args.clients} concurrent clients.",
        "- proofs/s: proofs scored divided by the row's total wall time on the client.",
        "",
        "| proofs per request | concurrent clients | p50 latency (ms) | p95 latency (ms) | proofs/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {b} | {c} | {p50:.1f} | {p95:.1f} | {rate:.1f} |" for b, c, p50, p95, rate in rows]
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
