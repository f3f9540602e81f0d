"""A small OpenAI-compatible chat completions server for tests, on 127.0.0.1.

By default it answers like a cooperative model: it reads the "Step k: ..."
lines of the prompt and returns the JSON that each method's template requests.
`script` holds faults to serve first, one per request (status codes, invalid
JSON, a body cut off mid-transfer, an empty completion, a delay). Every request
body and its headers are kept in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STEP = re.compile(r"^Step (\d+): (.*)$", re.MULTILINE)


def _steps(prompt: str) -> list[str]:
    return [text for _, text in STEP.findall(prompt)]


def cooperative_reply(prompt: str) -> str:
    """Return the reply a well-behaved model would give to one of the project's templates."""
    steps = _steps(prompt)
    if "Grade the proof" in prompt:
        wrong = [number for number, step in enumerate(steps, start=1) if "fails for n = 0" in step]
        issues = [{"step": n, "category": "dropped_condition", "description": "ignores n = 0"} for n in wrong]
        return json.dumps({"verdict": "incorrect" if wrong else "correct", "issues": issues})
    if "[MASKED]" in prompt:
        hidden = [int(n) for n in re.search(r"hidden: ([\d, ]+)\)", prompt).group(1).split(",")]
        return json.dumps({"filled": {str(n): f"Step {n} follows from the previous step by the same argument." for n in hidden}})
    if "Insert exactly one error" in prompt:
        index = min(1, len(steps) - 1)
        steps[index] = steps[index].rstrip(".") + ", although this fails for n = 0."
        return json.dumps({"steps": steps, "error_steps": [index + 1], "explanation": "drops the condition n > 0"})
    if "Rephrase the proof" in prompt:
        return "```json\n" + json.dumps({"steps": [f"Indeed, {s[0].lower()}{s[1:]}" for s in steps]}) + "\n```"
    if "Reword the proof" in prompt:
        return json.dumps({"steps": [s.replace("Therefore", "Hence").replace("therefore", "hence") + " " for s in steps]})
    return json.dumps({"steps": ["Assume the hypotheses of the problem.", "The claim follows by induction on n."]})


class OpenAITestServer:
    """Start with `with OpenAITestServer() as server:`; `server.base_url` ends in /v1."""

    def __init__(self, model: str = "test-model") -> None:
        self.model = model
        self.script: deque[tuple[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "OpenAITestServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _next_fault(self) -> tuple[str, Any] | None:
        with self.lock:
            return self.script.popleft() if self.script else None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._send(200, json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                    return
                prompt = body["messages"][-1]["content"]
                fault = server._next_fault()
                text, finish = cooperative_reply(prompt), "stop"
                if fault is not None:
                    kind, value = fault
                    if kind == "status":
                        self._send(value, json.dumps({"error": {"message": f"status {value}"}}).encode(), {"Retry-After": "0"})
                        return
                    if kind == "raw":
                        self._send(200, value.encode())
                        return
                    if kind == "drop":
                        # Promise more bytes than are sent, then close: the client sees the body cut off.
                        self._send(200, b'{"choices": [{"mess', length=500)
                        self.close_connection = True
                        return
                    if kind == "sleep":
                        time.sleep(value)
                    if kind == "text":
                        text = value
                    if kind == "finish":
                        finish = value
                reply = {
                    "id": "chatcmpl-test", "object": "chat.completion", "model": server.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(prompt.split()) + len(text.split())},
                }
                self._send(200, json.dumps(reply).encode())

        return Handler
