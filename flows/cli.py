"""The `reprolab` command line.

Exit status: 0 on success, 2 on invalid input (a missing file, a malformed
record, an unknown or out-of-range setting), 1 on any other failure.
With --json the last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from components.errors import InputError
from flows.config import available_presets, load_config
from flows.registry import FLOWS, flow_spec, load_attribute
from flows.settings import configure_environment

EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2

logger = logging.getLogger("reprolab")


def resolve_flow(name: str) -> Callable[..., Any]:
    return load_attribute(flow_spec(name).flow)


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (invalid in JSON) by null, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def print_summary(summary: dict[str, Any]) -> None:
    print(f"flow {summary.get('flow')}: MLflow run {summary.get('mlflow_run_id')}, DVC data md5 {summary.get('dvc_data_md5')}")
    for key, value in sorted(summary.get("metrics", {}).items()):
        print(f"  {key:60s} {value:.4f}" if isinstance(value, float) else f"  {key:60s} {value}")
    for key, value in summary.get("artifacts", {}).items():
        print(f"  artifact {key}: {value}")


def positive_int(text: str) -> int:
    """argparse type for counts: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}: must be at least 1")
    return value


# Commands


def cmd_flows(args: argparse.Namespace) -> int:
    for name, spec in FLOWS.items():
        print(f"{name}: {spec.description}")
        print(f"  stages:  {' -> '.join(spec.stages)}")
        print(f"  presets: {', '.join(available_presets(name))}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    stages = flow_spec(args.flow).stages
    if args.refresh is not None and args.refresh not in stages:
        raise InputError(f"unknown stage '{args.refresh}' for {args.flow}; stages: {', '.join(stages)}", field="--refresh")
    config = load_config(args.flow, args.preset, args.set or [], args.refresh)
    preflight = flow_spec(args.flow).preflight
    if preflight is not None:
        load_attribute(preflight)(config)
    flow_fn = resolve_flow(args.flow)
    started = time.perf_counter()
    summary = flow_fn(config)
    summary["wall_seconds"] = round(time.perf_counter() - started, 2)
    print_summary(summary)
    if args.json:
        print(json.dumps(json_safe(summary), sort_keys=True))
    return EXIT_OK


def cmd_eval_rm(args: argparse.Namespace) -> int:
    from components.proofs.importers import load_triplets
    from components.rm.evaluate import build_report
    from tasks.rm_pyfunc import load_reward_model

    triplets = load_triplets(args.data)
    if args.limit is not None:
        triplets = triplets[: args.limit]
    if not triplets:
        raise InputError("no records to evaluate", path=args.data)
    model = load_reward_model(args.model)
    started = time.perf_counter()
    scores = model.score([(t.question, t.steps) for t in triplets], batch_size=args.batch_size, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    report = build_report("reward_model", triplets, [s.outcome for s in scores], threshold=model.threshold)
    metrics = dict(report.metrics)
    metrics["proofs_per_second"] = len(triplets) / seconds if seconds > 0 else math.nan
    for key, value in report.best_of_n.items():
        metrics[f"best_of_n.{key}"] = value

    print(f"eval-rm {args.data} with {args.model}: {len(triplets)} proofs")
    for key, value in metrics.items():
        print(f"  {key:32s} {value:.4f}")
    for table in ("by_source", "by_error_type"):
        print(f"  {table}:")
        for row in getattr(report, table):
            print(f"    {row['group']:28s} n={int(row['n']):5d} accuracy={row['accuracy']:.3f} mean_score={row['mean_score']:.3f}")
    if args.json:
        print(json.dumps(json_safe({"model": args.model, "data": str(args.data), "metrics": metrics, "report": report.to_dict()}), sort_keys=True))
    return EXIT_OK


def build_deployment(flow: str, preset: str, overrides: list[str], cron: str):
    """Return a Prefect deployment of `flow` with the preset's config as its parameter and a cron schedule."""
    from prefect.schedules import Cron

    try:
        schedule = Cron(cron)
    except ValueError as exc:
        raise InputError(f"invalid cron expression {cron!r} ({exc})", field="--cron") from exc
    config = load_config(flow, preset, overrides)
    return resolve_flow(flow).to_deployment(
        name=f"{flow}-{preset}", schedule=schedule, parameters={"config": config.model_dump(mode="json")}
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from prefect import serve

    deployment = build_deployment(args.flow, args.preset, args.set or [], args.cron)
    # Registers the deployment with the Prefect API (PREFECT_API_URL) and runs it on schedule until stopped.
    serve(deployment)
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    from flows.settings import project_home

    home = project_home()
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", os.environ["MLFLOW_TRACKING_URI"],
        "--default-artifact-root", (home / "mlartifacts").as_uri(),
        "--host", args.host, "--port", str(args.port),
    ]
    print(f"MLflow UI on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
    # Replace this process, so stopping its PID stops the MLflow server rather than orphaning it.
    os.execv(sys.executable, command)
    return EXIT_FAILURE  # not reached: execv returns only by raising


def cmd_serve_rm(args: argparse.Namespace) -> int:
    from components.rm.server import make_server
    from tasks.rm_pyfunc import load_reward_model

    if not 1 <= args.max_batch <= 4096:
        raise InputError(f"--max-batch is {args.max_batch}; allowed range is 1..4096", field="--max-batch")
    model = load_reward_model(args.model)
    try:
        server = make_server(model, args.host, args.port, model_name=args.model, max_batch=args.max_batch,
                             max_wait_ms=args.max_wait_ms)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}", field="--port",
                         hint="Pick a free port") from exc
    host, port = server.server_address[:2]
    # Tests and scripts read this line to learn the port when --port 0 picks a free one.
    print(f"serving reward model {args.model} on http://{host}:{port} (POST /score, POST /get_reward; Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    from flows.review_cli import run_review_command

    return run_review_command(args)


# Parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reprolab", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("flows", help="list pipelines, their stages and presets").set_defaults(handler=cmd_flows)

    run = commands.add_parser("run", help="run a pipeline")
    run.add_argument("flow", help=f"pipeline name: {', '.join(FLOWS)}")
    run.add_argument("--preset", default="default", help="preset under configs/<flow>/ (smoke, default, paper)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value by dotted key; repeatable")
    run.add_argument("--refresh", metavar="STAGE", help="recompute this stage and every later one (see `reprolab flows`)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    run.set_defaults(handler=cmd_run)

    evaluate = commands.add_parser("eval-rm", help="evaluate a reward model on labelled proofs")
    evaluate.add_argument("--model", required=True, help="checkpoint folder or MLflow URI (models:/proof-rm/1, runs:/ID/reward_model)")
    evaluate.add_argument("--data", required=True, help="OPC parquet, PRMBench JSONL or folder, or triplets JSONL")
    evaluate.add_argument("--limit", type=positive_int, help="evaluate only the first N records")
    evaluate.add_argument("--batch-size", type=positive_int, default=16, help="proofs per scoring batch")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON on the last line")
    evaluate.set_defaults(handler=cmd_eval_rm)

    serve = commands.add_parser("serve", help="serve a flow as a Prefect deployment on a cron schedule")
    serve.add_argument("flow")
    serve.add_argument("--cron", required=True, help='cron expression, e.g. "0 3 * * *"')
    serve.add_argument("--preset", default="default")
    serve.add_argument("--set", action="append", metavar="KEY=VALUE")
    serve.set_defaults(handler=cmd_serve)

    ui = commands.add_parser("ui", help="MLflow UI over the project's tracking store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(handler=cmd_ui)

    serve_rm = commands.add_parser("serve-rm", help="score proofs over HTTP with a reward model (OpenRLHF-compatible)")
    serve_rm.add_argument("--model", required=True, help="checkpoint folder or MLflow URI (models:/proof-rm/1)")
    serve_rm.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve_rm.add_argument("--port", type=int, default=5001, help="port to listen on (0: any free port)")
    serve_rm.add_argument("--max-batch", type=int, default=32, help="most proofs scored in one model call")
    serve_rm.add_argument("--max-wait-ms", type=float, default=5.0, help="milliseconds a request waits for others to join its batch")
    serve_rm.set_defaults(handler=cmd_serve_rm)

    review = commands.add_parser("review", help="the human review queue")
    from flows.review_cli import add_review_commands

    add_review_commands(review)
    review.set_defaults(handler=cmd_review)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # One line per Prefect API request drowns the pipeline's own log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return args.handler(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI reports any failure with status 1
        logger.exception("failed: %s", exc)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
