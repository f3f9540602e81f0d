"""A real review server process on 127.0.0.1 for API, browser and benchmark runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from components.proofs.schema import Check, ErrorType, GenerationMethod, Triplet

PROJECT_ROOT = Path(__file__).resolve().parents[2]

HOSTILE_STEP = 'Then <script>window.__pwned = 1; alert("xss")</script> holds.'
HOSTILE_IMG = '<img src=x onerror="window.__pwned = 2; alert(1)"> so $x^2 \\geq 0$.'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_triplet(
    triplet_id: str,
    label: str = "correct",
    *,
    precheck: str | None = None,
    steps: list[str] | None = None,
    error_steps: tuple[int, ...] = (),
) -> Triplet:
    steps = steps or [f"Step {n}: since $a_{n} = {n}^2$, the claim holds for $n = {n}$." for n in range(1, 5)]
    if label == "incorrect" and not error_steps:
        error_steps = (2,)
    return Triplet(
        triplet_id=triplet_id,
        problem_id=f"problem-{triplet_id}",
        question="Prove that $\\sum_{k=1}^{n} (2k - 1) = n^2$ for every positive integer $n$.",
        steps=steps,
        source="bank",
        method=GenerationMethod.ERROR_INJECTION if label == "incorrect" else GenerationMethod.REFERENCE,
        generator="rule-based",
        label=label,
        error_steps=list(error_steps),
        error_type=ErrorType.SIGN_ERROR if label == "incorrect" else None,
        check=None if precheck is None else Check(verdict=precheck, checker="rule-check",
                                                   rationale="<b>bold?</b> rationale"),
    )


@dataclass
class Server:
    store: Path | str  # an SQLite file or a PostgreSQL URL
    port: int
    log: Path
    process: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "flows.cli", "review", "--store", str(self.store), "serve",
                   "--host", "127.0.0.1", "--port", str(self.port)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"review server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"review server did not start within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, reviewer: str, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[reviewer]}"},
                            timeout=30.0, **kwargs)


def seeded_store(path: Path | str, reviewers: dict[str, int], items: list[tuple[Triplet, dict]]) -> dict[str, str]:
    """Create a store (path or URL) with reviewers (id -> level) and items ((triplet, options)); return tokens."""
    from components.review.service import ReviewService

    tokens = {}
    with ReviewService(path) as service:
        for reviewer_id, level in reviewers.items():
            service.add_reviewer(reviewer_id, level, name=f"{reviewer_id.title()} Reviewer")
            tokens[reviewer_id] = service.issue_token(reviewer_id)
        for triplet, options in items:
            service.enqueue([triplet], reason=options.get("reason", "test"),
                            reviews_required=options.get("reviews_required", 1), gold=options.get("gold", False))
    return tokens
