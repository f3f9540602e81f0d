"""HTTP JSON server that scores proofs with a reward model, for RL training and batch scoring.

Endpoints (all JSON):

- `GET /health` returns `{"status": "ok", "model": ...}`.
- `POST /score` takes `{"items": [{"question": str, "steps": [str, ...]} | {"question": str, "proof": str}]}`
  and returns `{"scores": [{"outcome": P(correct), "steps": [P(step correct), ...]}]}`.
- `POST /get_reward` (also `POST /`) takes OpenRLHF's remote reward-model request,
  `{"query": [prompt + response, ...], "prompts": [prompt, ...], "labels": [...]}`,
  and returns `{"rewards": [P(correct), ...], "scores": [...], "step_scores": [[...], ...]}`.
  The response is the query with its prompt prefix removed, or the whole query when
  `prompts` is absent or is not a prefix. It is split into steps with
  `components.proofs.steps.split_steps`, and the prompt serves as the question.

Requests from concurrent clients are merged: a worker thread takes the waiting
requests, up to `max_batch` proofs or until `max_wait_ms` has passed since the
first one, and scores them in one model call.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from components.proofs.steps import split_steps
from components.rm.model import ProofRewardModel, ProofScore

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024


class BadRequest(ValueError):
    """A request body the server cannot score; the message goes back to the client with status 400."""


class BatchScorer:
    """Merge proofs from concurrent callers into model batches of at most `max_batch` proofs."""

    def __init__(self, model: ProofRewardModel, *, max_batch: int = 32, max_wait_ms: float = 5.0) -> None:
        self.model = model
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.jobs: queue.Queue[tuple[list[tuple[str, list[str]]], Future]] = queue.Queue()
        self.batches = 0
        self._worker = threading.Thread(target=self._run, name="reward-batcher", daemon=True)
        self._worker.start()

    def score(self, proofs: Sequence[tuple[str, list[str]]]) -> list[ProofScore]:
        """Score proofs in the next model batch and return their scores, or raise the exception the model raised."""
        if not proofs:
            return []
        future: Future = Future()
        self.jobs.put((list(proofs), future))
        return future.result()

    def _run(self) -> None:
        while True:
            jobs = [self.jobs.get()]
            size = len(jobs[0][0])
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self.jobs.get(timeout=remaining)
                except queue.Empty:
                    break
                jobs.append(job)
                size += len(job[0])
            proofs = [proof for batch, _ in jobs for proof in batch]
            try:
                scores = self.model.score(proofs, batch_size=self.max_batch)
            except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                logger.exception("scoring a batch of %d proofs failed", len(proofs))
                for _, future in jobs:
                    future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for batch, future in jobs:
                future.set_result(scores[start : start + len(batch)])
                start += len(batch)


def _strings(body: dict[str, Any], key: str, required: bool = True) -> list[str] | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"'{key}' must be a list of strings")
    return value


def openrlhf_proofs(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Turn an OpenRLHF request into (question, steps) pairs."""
    queries = _strings(body, "query")
    prompts = _strings(body, "prompts", required=False)
    if prompts is not None and len(prompts) != len(queries):
        raise BadRequest(f"'prompts' has {len(prompts)} entries but 'query' has {len(queries)}")
    proofs = []
    for index, query in enumerate(queries):
        prompt = prompts[index] if prompts is not None else ""
        response = query[len(prompt) :] if prompt and query.startswith(prompt) else query
        steps = split_steps(response) if response.strip() else []
        # An empty response still gets a score, computed on one placeholder step that contains no argument.
        proofs.append((prompt.strip() or "(no question given)", steps or ["(empty response)"]))
    return proofs


def score_items(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Turn a `/score` request into (question, steps) pairs."""
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise BadRequest("'items' must be a non-empty list of {question, steps} or {question, proof} objects")
    proofs = []
    for number, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise BadRequest(f"items[{number}] needs a string 'question'")
        if isinstance(item.get("steps"), list) and item["steps"] and all(isinstance(s, str) and s.strip() for s in item["steps"]):
            steps = list(item["steps"])
        elif isinstance(item.get("proof"), str) and item["proof"].strip():
            steps = split_steps(item["proof"])
        else:
            raise BadRequest(f"items[{number}] needs 'steps' (non-blank strings) or a non-empty 'proof'")
        proofs.append((item["question"], steps))
    return proofs


def make_server(model: ProofRewardModel, host: str, port: int, *, model_name: str = "", max_batch: int = 32,
                max_wait_ms: float = 5.0) -> ThreadingHTTPServer:
    """Build the HTTP server (not started); call `serve_forever()` on it."""
    scorer = BatchScorer(model, max_batch=max_batch, max_wait_ms=max_wait_ms)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.client_address[0], *args)

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"status": "ok", "model": model_name, "batches": scorer.batches})
            else:
                self._reply(404, {"error": f"no endpoint GET {self.path}; use /health, POST /score or POST /get_reward"})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_BODY_BYTES:
                    raise BadRequest(f"body length {length} is outside 1..{MAX_BODY_BYTES} bytes")
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise BadRequest("body must be a JSON object")
                if self.path in ("/get_reward", "/"):
                    scores = scorer.score(openrlhf_proofs(body))
                    outcomes = [s.outcome for s in scores]
                    self._reply(200, {"rewards": outcomes, "scores": outcomes, "step_scores": [s.steps for s in scores]})
                elif self.path == "/score":
                    scores = scorer.score(score_items(body))
                    self._reply(200, {"scores": [{"outcome": s.outcome, "steps": s.steps} for s in scores]})
                else:
                    self._reply(404, {"error": f"no endpoint POST {self.path}; use /score or /get_reward"})
            except (BadRequest, ValueError) as exc:
                logger.warning("rejected request to %s: %s", self.path, exc)
                self._reply(400, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - the server keeps serving other requests
                logger.exception("request to %s failed", self.path)
                self._reply(500, {"error": f"scoring failed: {exc}"})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
