"""Load and crash test of the review web service; writes docs/results/review.md.

Two runs against a real `reprolab review serve` process on 127.0.0.1:

1. load: CLIENTS concurrent reviewer clients submit REVIEWS reviews in total
   through the JSON API (GET /api/next, POST /api/items/{id}/labels).
2. kill: the same load, but the server is killed with SIGKILL once a third of
   the reviews are acknowledged, and restarted on the same port a moment later.
   Clients retry failed requests with the same request id.

Both runs go once against an SQLite store and once against a PostgreSQL
store (a durable server that the benchmark starts on 127.0.0.1 with Debian's
PostgreSQL; only the review server is killed). After each run the store is
read directly. A review is acknowledged when the
client received 200 or 201. Zero lost means every acknowledged review is in the
store (checked again right after the kill, before the restart); zero duplicated
means no (item, reviewer, level) has two labels and the store holds exactly one
label per review the clients set out to submit.

    python benchmarks/review_load.py                     # 50 clients, 2,000 reviews, both stores
    python benchmarks/review_load.py --clients 5 --reviews 100 --backend sqlite --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
from contextlib import ExitStack
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.common import machine  # noqa: E402
from components.review.testing import PostgresCluster  # noqa: E402
from tests.review.helpers import Server, free_port, make_triplet, seeded_store  # noqa: E402

BACKENDS = ("sqlite", "postgresql")

RESULTS = PROJECT_ROOT / "docs" / "results" / "review.md"


@dataclass
class Ack:
    request_id: str
    triplet_id: str
    reviewer: str
    label_id: int
    replayed: bool
    at: float


@dataclass
class RunResult:
    name: str
    clients: int
    planned: int
    backend: str = "sqlite"
    seconds: float = 0.0
    acks: list[Ack] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    killed_after_acks: int | None = None
    acks_before_kill: int | None = None
    lost_at_kill: int | None = None
    restart_seconds: float | None = None
    labels_in_store: int = 0
    duplicates: int = 0
    lost: int = 0
    unacknowledged_in_store: int = 0

    def summary(self) -> dict:
        lat = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

        return {
            "run": self.name, "store": self.backend, "clients": self.clients, "planned_reviews": self.planned,
            "acknowledged": len(self.acks), "labels_in_store": self.labels_in_store,
            "lost": self.lost, "duplicated": self.duplicates,
            "in_store_but_unacknowledged": self.unacknowledged_in_store,
            "replayed_acks": sum(1 for ack in self.acks if ack.replayed),
            "client_retries": self.retries, "conflicts_409": self.conflicts,
            "seconds": round(self.seconds, 2),
            "reviews_per_second": round(len(self.acks) / self.seconds, 1) if self.seconds else None,
            "latency_ms_p50": pct(0.50), "latency_ms_p95": pct(0.95), "latency_ms_p99": pct(0.99),
            "killed_after_acks": self.killed_after_acks, "acks_before_kill": self.acks_before_kill,
            "lost_at_kill": self.lost_at_kill, "restart_seconds": self.restart_seconds,
            "client_errors": len(self.errors),
        }


def build_store(store: Path | str, clients: int, reviews: int) -> dict[str, str]:
    """Queue items needing exactly `reviews` level-1 labels: a fifth of the reviews go to double review."""
    double = reviews // 5 // 2
    single = reviews - 2 * double
    items = [(make_triplet(f"s{n:05d}", precheck="correct"), {}) for n in range(single)]
    items += [(make_triplet(f"d{n:05d}", "incorrect", precheck="incorrect"), {"reviews_required": 2})
              for n in range(double)]
    return seeded_store(store, {f"r{n:02d}": 1 for n in range(clients)}, items)


def reviewer_client(server: Server, reviewer: str, result: RunResult, lock: threading.Lock,
                    stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {server.tokens[reviewer]}"}
    empty_rounds = 0
    with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client:
        while not stop.is_set():
            try:
                item = client.get("/api/next").json()["item"]
            except (httpx.HTTPError, ValueError):
                with lock:
                    result.retries += 1
                time.sleep(0.1 + rng.random() * 0.2)
                continue
            if item is None:
                empty_rounds += 1
                if empty_rounds >= 10:
                    return
                time.sleep(0.2)
                continue
            empty_rounds = 0
            verdict = "correct" if item["claimed"]["label"] == "correct" else "incorrect"
            if rng.random() < 0.1:
                verdict = "unsure"
            body = {
                "verdict": verdict,
                "error_steps": item["claimed"]["error_steps"] if verdict == "incorrect" else [],
                "comment": f"{reviewer} load test",
                "seconds_spent": round(rng.uniform(5, 90), 1),
                "request_id": uuid.uuid4().hex,
            }
            for attempt in range(200):
                started = time.perf_counter()
                try:
                    response = client.post(f"/api/items/{item['triplet_id']}/labels", json=body)
                except httpx.HTTPError:
                    with lock:
                        result.retries += 1
                    time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 5)) * (0.5 + rng.random()))
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code in (200, 201):
                    data = response.json()
                    with lock:
                        result.latencies.append(elapsed)
                        result.acks.append(Ack(body["request_id"], item["triplet_id"], reviewer,
                                               int(data["label_id"]), bool(data["replayed"]), time.monotonic()))
                elif response.status_code == 409:
                    with lock:
                        result.conflicts += 1
                elif response.status_code >= 500:
                    with lock:
                        result.retries += 1
                    time.sleep(0.1)
                    continue
                else:
                    with lock:
                        result.errors.append(f"{response.status_code} {response.text[:200]}")
                break


def read_labels(store: Path | str) -> tuple[list[tuple], int]:
    """Read the labels and the number of duplicated (item, reviewer, level) keys straight from the database."""
    labels = "SELECT label_id, triplet_id, reviewer_id FROM labels"
    duplicated = ("SELECT COUNT(*) FROM (SELECT 1 FROM labels GROUP BY triplet_id, reviewer_id, level "
                  "HAVING COUNT(*) > 1) AS groups")
    if isinstance(store, Path):
        with sqlite3.connect(store) as conn:
            return conn.execute(labels).fetchall(), conn.execute(duplicated).fetchone()[0]
    import psycopg

    with psycopg.connect(store) as conn:
        return conn.execute(labels).fetchall(), conn.execute(duplicated).fetchone()[0]


def check_store(store: Path | str, result: RunResult) -> None:
    rows, duplicates = read_labels(store)
    stored = {row[0]: (row[1], row[2]) for row in rows}
    acked = {ack.label_id for ack in result.acks}
    result.labels_in_store = len(rows)
    result.lost = sum(1 for ack in result.acks if stored.get(ack.label_id) != (ack.triplet_id, ack.reviewer))
    result.duplicates = duplicates + max(0, len(rows) - result.planned)
    result.unacknowledged_in_store = sum(1 for label_id in stored if label_id not in acked)


def run(name: str, clients: int, reviews: int, *, kill: bool, postgres: PostgresCluster | None = None) -> RunResult:
    """Run the load on a new store: an SQLite file, or a new database in `postgres` when it is given."""
    with tempfile.TemporaryDirectory(prefix=f"review-{name}-") as folder_name:
        folder = Path(folder_name)
        if postgres is None:
            store: Path | str = folder / "review.db"
        else:
            # As the documentation recommends, the URL has no password and libpq reads PGPASSWORD.
            database = f"review_{name}_{uuid.uuid4().hex[:8]}"
            postgres.create_database(database)
            os.environ["PGPASSWORD"] = postgres.password
            store = postgres.url(database, password=False)
        tokens = build_store(store, clients, reviews)
        server = Server(store=store, port=free_port(), log=folder / "server.log", tokens=tokens)
        server.start()
        result = RunResult(name, clients, reviews, backend="sqlite" if postgres is None else "postgresql")
        lock, stop = threading.Lock(), threading.Event()
        threads = [threading.Thread(target=reviewer_client, args=(server, reviewer, result, lock, stop, n))
                   for n, reviewer in enumerate(tokens)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            if kill:
                target = reviews // 3
                while len(result.acks) < target and any(t.is_alive() for t in threads):
                    time.sleep(0.01)
                with lock:
                    result.killed_after_acks = len(result.acks)
                    acked_before = list(result.acks)
                server.kill()
                # Every review acknowledged before the kill must be on disk, before any restart.
                probe = RunResult(name, clients, reviews, result.backend, acks=acked_before)
                check_store(store, probe)
                result.acks_before_kill = len(acked_before)
                result.lost_at_kill = probe.lost
                time.sleep(1.0)
                restart = time.perf_counter()
                server.start()
                result.restart_seconds = round(time.perf_counter() - restart, 2)
            for thread in threads:
                thread.join(timeout=600)
        finally:
            stop.set()
            # Until the last acknowledgement: the clients' final empty polls are not part of the load.
            result.seconds = max((ack.at for ack in result.acks), default=started) - started
            server.stop()
        check_store(store, result)
        return result


LOAD_BEFORE = os.getloadavg()



def write_results(results: list[RunResult], command: str) -> None:
    rows = [r.summary() for r in results]
    columns = [
        ("run", "run"), ("store", "store"), ("clients", "clients"), ("planned_reviews", "reviews planned"),
        ("acknowledged", "acknowledged"), ("labels_in_store", "labels in store"), ("lost", "lost"),
        ("duplicated", "duplicated"), ("replayed_acks", "acks by replay"), ("client_retries", "client retries"),
        ("seconds", "seconds"), ("reviews_per_second", "reviews/s"), ("latency_ms_p50", "p50 ms"),
        ("latency_ms_p95", "p95 ms"), ("latency_ms_p99", "p99 ms"),
    ]
    lines = [
        "# Review service: load and crash test",
        "",
        f"Produced by `{command}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {machine()}; load average",
        f"before the runs {', '.join(f'{value:.1f}' for value in LOAD_BEFORE)} (other work shared the machine).",
        "The server (`reprolab review serve`, one uvicorn process) and the clients (one thread and one",
        "HTTP connection each) share the machine and talk over 127.0.0.1. The store is an SQLite file in WAL",
        "mode, or a database on a PostgreSQL server that the benchmark starts on 127.0.0.1 with its durable",
        "defaults (fsync and synchronous commit on).",
        "",
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        lines.append("| " + " | ".join("-" if row[key] is None else str(row[key]) for key, _ in columns) + " |")
    kills = [r for r in rows if r["killed_after_acks"] is not None]
    lines += [
        "",
        "- *acknowledged*: reviews for which the client got 200 or 201. *lost*: acknowledged reviews missing",
        "  from the store afterwards. *duplicated*: (item, reviewer, level) pairs with more than one label, plus",
        "  labels beyond the planned number. *acks by replay*: retried submissions whose first attempt had",
        "  been committed, answered from the `submissions` table instead of writing a second label.",
        "- Each client asks for its next item, then submits a label with a fresh request id; a failed or",
        "  unanswered submission is retried with the same id. A fifth of the reviews go to blind double review.",
        "- Each review takes three write transactions besides reads: claiming the next item, opening it, and",
        "  the label. Both stores admit one writer at a time, so throughput follows the time of a write",
        "  transaction: in process for SQLite, round trips to the server and a durable commit for PostgreSQL.",
    ]
    for kill in kills:
        lines += [
            f"- kill run on {kill['store']}: the server was killed with SIGKILL after {kill['killed_after_acks']}",
            f"  acknowledged reviews. Read straight from the store before the restart, {kill['lost_at_kill']} of",
            f"  the {kill['acks_before_kill']} reviews acknowledged by then were missing. The server was restarted",
            f"  on the same port after 1 s (ready in {kill['restart_seconds']} s) and the clients finished the",
            "  queue with retries.",
        ]
    lines += ["", "Raw figures:", "", "```json", json.dumps(rows, indent=2), "```", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--reviews", type=int, default=2000)
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both",
                        help="review store to test (default: both)")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/results alone")
    args = parser.parse_args(argv)
    os.environ.setdefault("REPROLAB_HOME", tempfile.mkdtemp(prefix="reprolab-bench-home-"))

    backends = BACKENDS if args.backend == "both" else (args.backend,)
    results = []
    with ExitStack() as stack:
        for backend in backends:
            postgres = stack.enter_context(PostgresCluster()) if backend == "postgresql" else None
            for name, kill in (("load", False), ("kill", True)):
                results.append(run(name, args.clients, args.reviews, kill=kill, postgres=postgres))
    for result in results:
        print(json.dumps(result.summary()))
        for error in result.errors[:5]:
            print("  client error:", error)
    if not args.no_write:
        command = "python benchmarks/review_load.py" + (
            "" if (args.clients, args.reviews) == (50, 2000) else f" --clients {args.clients} --reviews {args.reviews}"
        ) + ("" if args.backend == "both" else f" --backend {args.backend}")
        write_results(results, command)
        print(f"wrote {RESULTS}")
    ok = all(r.lost == 0 and r.duplicates == 0 and not r.errors and len(r.acks) == r.planned
             and r.labels_in_store == r.planned and not r.lost_at_kill for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
