"""`reprolab review`: serve the review web app, label in the terminal, show statistics, export final labels."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from components.errors import InputError
from components.proofs.schema import ErrorType, Triplet
from components.review.database import StoreTarget, parse_target
from components.review.store import EXPORT_FORMATS, ReviewStore
from flows.settings import project_home

VERDICT_KEYS = {"c": "correct", "i": "incorrect", "u": "unsure"}


def add_review_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        help="review store: an SQLite file or a postgresql://user@host:port/database URL "
        "(default: review.db in the project home). Keep the password in PGPASSWORD or ~/.pgpass",
    )
    commands = parser.add_subparsers(dest="review_command", required=True)

    add = commands.add_parser("add-reviewer", help="register a reviewer and print a sign-in token for the web app")
    add.add_argument("reviewer")
    add.add_argument("--level", type=int, choices=(1, 2), default=1, help="1 labels, 2 decides escalated items")
    add.add_argument("--name", help="display name")
    add.add_argument("--no-token", action="store_true", help="do not issue a sign-in token")
    add.add_argument("--revoke-tokens", action="store_true",
                     help="revoke the reviewer's earlier tokens and sessions before issuing the new token")

    serve = commands.add_parser("serve", help="run the review web app")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--secure-cookies", action="store_true",
                       help="mark cookies Secure (set this behind an HTTPS proxy)")

    commands.add_parser("migrate", help="create the review store or upgrade it to the newest schema")

    label = commands.add_parser("next", help="label queued items in the terminal, one after another")
    label.add_argument("--reviewer", required=True, help="your reviewer id (see add-reviewer)")
    label.add_argument("--max-items", type=int, default=None, help="stop after this many labels")

    stats = commands.add_parser(
        "stats", help="queue depth, throughput, escalation rate, gold accuracy and Cohen's kappa per reviewer"
    )
    stats.add_argument("--table", action="store_true", help="print tables instead of JSON")

    export = commands.add_parser("export", help="write final labels as JSONL or parquet")
    export.add_argument("--out", type=Path, required=True, help="output path (written atomically)")
    export.add_argument("--format", choices=EXPORT_FORMATS,
                        help="jsonl or parquet (default: parquet for a .parquet path, else jsonl)")


def store_path(args: argparse.Namespace) -> StoreTarget:
    """Return the store named by --store (a path relative to the working folder, or a URL), else the default."""
    if args.store is None:
        return parse_target(project_home() / "review.db")
    return parse_target(args.store)


def run_review_command(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    # Resolved at call time, so a replaced sys.stdout (pytest's capture, a redirect) is honoured.
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    path = store_path(args)
    if args.review_command == "serve":
        return serve(path, args.host, args.port, secure_cookies=args.secure_cookies, out=stdout)
    if args.review_command not in ("add-reviewer", "migrate") and not path.exists():
        raise InputError("review store not found", path=path,
                         hint="Run `reprolab run proof-rm` first, which queues items, or pass --store")
    from components.review.service import ReviewService

    with ReviewService(path) as store:
        if args.review_command == "add-reviewer":
            created = store.add_reviewer(args.reviewer, args.level, name=args.name)
            print(f"reviewer {args.reviewer} {'added' if created else 'updated'} at level {args.level}", file=stdout)
            if not args.no_token:
                token = store.issue_token(args.reviewer, revoke_others=args.revoke_tokens)
                print(f"sign-in token (shown once, only its hash is stored): {token}", file=stdout)
        elif args.review_command == "migrate":
            print(f"review store {path} is at schema revision {store.schema_revision()}", file=stdout)
        elif args.review_command == "stats":
            stats = store.stats()
            if args.table:
                print_stats_table(stats, stdout)
            else:
                print(json.dumps(stats, indent=2, sort_keys=True, default=str), file=stdout)
        elif args.review_command == "export":
            if args.out.is_dir():
                raise InputError("output path is a folder", path=args.out, hint="Pass a file path such as final.jsonl")
            count = store.export(args.out, format=args.format)
            print(f"wrote {count} final labels to {args.out}", file=stdout)
        elif args.review_command == "next":
            label_loop(store, args.reviewer, args.max_items, stdin, stdout)
    return 0


def serve(path: StoreTarget, host: str, port: int, *, secure_cookies: bool = False, out: TextIO | None = None) -> int:
    """Run the review web app with uvicorn until interrupted."""
    import uvicorn

    from components.review.service import ReviewService
    from components.review.web import create_app

    out = out if out is not None else sys.stdout

    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {host} exposes the review app beyond this machine; put it behind HTTPS "
              "and pass --secure-cookies", file=sys.stderr)
    # Open the store once here, so that a bad path or an unreachable database is
    # reported as an input error (exit 2) before the server starts.
    with ReviewService(path):
        pass
    app = create_app(path, secure_cookies=secure_cookies)
    print(f"review app on http://{host}:{port} over {path} (Ctrl-C to stop)", file=out, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0


def _fmt(value: object, percent: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if percent else f"{value:.3f}"
    return str(value)


def print_stats_table(stats: dict, out: TextIO) -> None:
    status = stats["status"]
    kappa = stats["kappa"]
    throughput = stats["throughput"]
    print(f"items {stats['items']}: pending {status['pending']}, escalated {status['escalated']}, "
          f"final {status['final']} (queue depth {stats['queue_depth']})", file=out)
    print(f"labels {stats['labels']}: {throughput['labels_last_hour']} in the last hour, "
          f"{throughput['labels_last_day']} in the last day; escalation rate "
          f"{_fmt(stats['escalation_rate'], percent=True)}", file=out)
    print(f"Cohen's kappa on {kappa['items']} double-reviewed item(s): {_fmt(kappa['kappa'])} "
          f"(observed agreement {_fmt(kappa['observed'], percent=True)})", file=out)
    print(f"{'reviewer':20s} {'level':>5s} {'labels':>6s} {'gold acc':>9s} {'gold n':>6s} {'kappa':>6s} "
          f"{'double':>6s} {'median s':>8s}", file=out)
    for reviewer_id, entry in stats["reviewers"].items():
        print(f"{reviewer_id:20s} {entry['level']:5d} {entry['labels']:6d} "
              f"{_fmt(entry['gold_accuracy'], percent=True):>9s} {entry['gold_labels']:6d} "
              f"{_fmt(entry['kappa']):>6s} {entry['double_reviewed']:6d} {_fmt(entry['median_seconds']):>8s}",
              file=out)


def show_item(triplet: Triplet, out: TextIO) -> None:
    print("=" * 72, file=out)
    print(f"item {triplet.triplet_id}  problem {triplet.problem_id}  source {triplet.source}", file=out)
    print(f"\nQUESTION\n{triplet.question}\n\nPROOF", file=out)
    for number, step in enumerate(triplet.steps, start=1):
        print(f"  [{number}] {step}", file=out)
    if triplet.check is not None:
        flagged = ", ".join(map(str, triplet.check.flagged_steps)) or "none"
        print(f"\npre-check: {triplet.check.verdict} (flagged steps: {flagged})", file=out)
        if triplet.check.rationale:
            print(f"  {triplet.check.rationale}", file=out)


def ask(prompt: str, stdin: TextIO, out: TextIO) -> str | None:
    print(prompt, end="", file=out, flush=True)
    line = stdin.readline()
    return None if line == "" else line.strip()


def parse_steps(text: str, count: int) -> list[int]:
    steps = []
    for part in text.replace(",", " ").split():
        if not part.isdigit() or not 1 <= int(part) <= count:
            raise ValueError(f"'{part}' is not a step number in 1..{count}")
        steps.append(int(part))
    return sorted(set(steps))


def label_loop(store: ReviewStore, reviewer: str, max_items: int | None, stdin: TextIO, out: TextIO) -> int:
    """Show items one by one and submit the reviewer's labels; 'q' or end of input stops."""
    done = 0
    error_types = [e.value for e in ErrorType]
    while max_items is None or done < max_items:
        triplet = store.next_item(reviewer)
        if triplet is None:
            print("queue empty for this reviewer", file=out)
            break
        show_item(triplet, out)
        started = time.monotonic()
        verdict = ask("\nverdict [c]orrect / [i]ncorrect / [u]nsure / [q]uit: ", stdin, out)
        if verdict is None or verdict.lower() == "q":
            break
        if verdict.lower() not in VERDICT_KEYS:
            print(f"'{verdict}' is not one of c, i, u, q; item skipped", file=out)
            continue
        verdict = VERDICT_KEYS[verdict.lower()]

        steps: list[int] = []
        error_type = None
        if verdict == "incorrect":
            while True:
                answer = ask(f"wrong steps (numbers 1..{len(triplet.steps)}, blank if none): ", stdin, out) or ""
                try:
                    steps = parse_steps(answer, len(triplet.steps))
                    break
                except ValueError as exc:
                    print(exc, file=out)
            answer = ask(f"error type ({', '.join(error_types)}; blank to skip): ", stdin, out) or ""
            error_type = answer if answer in error_types else None
        comment = ask("comment (optional): ", stdin, out) or ""

        status = store.submit(triplet.triplet_id, reviewer, verdict, error_steps=steps, error_type=error_type,
                              comment=comment, seconds_spent=time.monotonic() - started)
        done += 1
        print(f"saved: item is now {status}", file=out)
    print(f"{done} item(s) labelled", file=out)
    return done
