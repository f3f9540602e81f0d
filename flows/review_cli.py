"""`reprolab review`: label queued triplets in the terminal, show statistics, export final labels."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from components.errors import InputError
from components.proofs.schema import ErrorType, Triplet
from components.review.store import ReviewStore
from flows.settings import project_home

VERDICT_KEYS = {"c": "correct", "i": "incorrect", "u": "unsure"}


def add_review_commands(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, help="review store (default: review.db in the project home)")
    commands = parser.add_subparsers(dest="review_command", required=True)

    add = commands.add_parser("add-reviewer", help="register a reviewer")
    add.add_argument("reviewer")
    add.add_argument("--level", type=int, choices=(1, 2), default=1, help="1 labels, 2 decides escalated items")
    add.add_argument("--name", help="display name")

    label = commands.add_parser("next", help="label queued items in the terminal, one after another")
    label.add_argument("--reviewer", required=True, help="your reviewer id (see add-reviewer)")
    label.add_argument("--max-items", type=int, default=None, help="stop after this many labels")

    commands.add_parser("stats", help="queue depth, labels per reviewer, escalation rate")

    export = commands.add_parser("export", help="write final labels as JSONL")
    export.add_argument("--out", type=Path, required=True, help="output JSONL path (written atomically)")


def store_path(args: argparse.Namespace) -> Path:
    return args.store if args.store is not None else project_home() / "review.db"


def run_review_command(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    path = store_path(args)
    if args.review_command != "add-reviewer" and not path.exists():
        raise InputError("review store not found", path=path,
                         hint="Run `reprolab run proof-rm` first, which queues items, or pass --store")
    with ReviewStore(path) as store:
        if args.review_command == "add-reviewer":
            created = store.add_reviewer(args.reviewer, args.level, name=args.name)
            print(f"reviewer {args.reviewer} {'added' if created else 'updated'} at level {args.level}", file=stdout)
        elif args.review_command == "stats":
            print(json.dumps(store.stats(), indent=2, sort_keys=True, default=str), file=stdout)
        elif args.review_command == "export":
            count = store.export(args.out)
            print(f"wrote {count} final labels to {args.out}", file=stdout)
        elif args.review_command == "next":
            label_loop(store, args.reviewer, args.max_items, stdin, stdout)
    return 0


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
