"""OpenAI-compatible chat completions over HTTP (vLLM, Ollama, llama.cpp server, OpenAI).

Requests go to `POST {base_url}/chat/completions` with the standard body
(`model`, `messages`, `temperature`, `top_p`, `max_tokens`, `seed`). A 429
or 5xx reply, a connection error and a timeout are retried with exponential
backoff of `backoff * 2**attempt` seconds, or the server's `Retry-After` when it
is longer. Any other 4xx fails at once. A reply that is not JSON, lacks
`choices`, was cut off at `max_tokens` (finish_reason "length") or holds an
empty completion fails with a reason. At most `concurrency` requests are in
flight at a time.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from components.llm.base import Completion, LLMError, Request, Usage
from components.llm.cache import ResponseCache, cache_key

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIChatBackend:
    """Chat completions from an OpenAI-compatible server, with retries, a concurrency limit, a cache and usage counts."""

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = API_KEY_ENV,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        concurrency: int = 4,
        cache: ResponseCache | None = None,
        cost_per_1k_prompt: float = 0.0,
        cost_per_1k_completion: float = 0.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env, "")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.concurrency = concurrency
        self.cache = cache
        self.cost_per_1k_prompt = cost_per_1k_prompt
        self.cost_per_1k_completion = cost_per_1k_completion
        self.usage = Usage()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport,
                                    limits=httpx.Limits(max_connections=concurrency))
        self.model = self.resolve_model(model) if model == "auto" else model
        self.name = f"openai:{self.model}"

    def close(self) -> None:
        self._client.close()

    def resolve_model(self, model: str) -> str:
        """Return the first model id of `GET {base_url}/models`, which vLLM, Ollama and llama.cpp serve."""
        body = self._send("GET", "/models", None)
        try:
            return str(body["data"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError("invalid_reply", f"{self.base_url}/models lists no model; set the model name in the config") from exc

    # Requests

    def complete(self, request: Request) -> Completion:
        """Return the completion of `request`, read from the cache when it contains one."""
        key = cache_key(self.kind, self.model, request) if self.cache is not None else ""
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.usage.add(hit)
            return hit
        try:
            completion = self._parse(self._send("POST", "/chat/completions", self._body(request)))
        except LLMError:
            self.usage.count("failures")
            raise
        self.usage.add(completion, self.cost_per_1k_prompt, self.cost_per_1k_completion)
        if self.cache is not None:
            self.cache.put(key, completion)
        return completion

    def complete_many(self, requests: Sequence[Request]) -> list[Completion | LLMError]:
        def run(request: Request) -> Completion | LLMError:
            try:
                return self.complete(request)
            except LLMError as exc:
                logger.error("request to %s failed: %s", self.base_url, exc)
                return exc

        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(run, requests))

    def _body(self, request: Request) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.model, "messages": request.message_dicts(), "temperature": params.temperature,
            "top_p": params.top_p, "max_tokens": params.max_tokens,
        }
        if params.seed is not None:
            # Repeated samples at one setting differ by their seed, so servers that honour seeds vary them.
            body["seed"] = params.seed + params.sample
        return body

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            response: httpx.Response | None = None
            try:
                response = self._client.request(method, url, json=body)
            except httpx.TimeoutException as exc:
                error = LLMError("timeout", f"{method} {url} timed out after {self.timeout} s ({exc.__class__.__name__})")
            except httpx.ConnectError as exc:
                error = LLMError("unreachable", f"{method} {url} failed: {exc}; check that the server runs and base_url is right")
            except httpx.TransportError as exc:
                error = LLMError("connection_error", f"{method} {url}: the connection broke off mid-reply ({exc!r})")
            else:
                if response.status_code < 400:
                    return self._json(response, url)
                detail = response.text[:300]
                error = LLMError(f"http_{response.status_code}", f"{method} {url} returned {response.status_code}: {detail}")
                if response.status_code not in RETRY_STATUS:
                    raise error
            if last:
                raise error
            delay = self._delay(attempt, response)
            self.usage.count("retries")
            logger.warning("%s; retry %d of %d in %.2f s", error, attempt + 1, self.max_retries, delay)
            time.sleep(delay)
        raise LLMError("unreachable", f"{method} {url}: no attempt was made (max_retries < 0)")

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self.backoff * 2**attempt
        if response is not None and (retry_after := response.headers.get("Retry-After")):
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        return delay

    @staticmethod
    def _json(response: httpx.Response, url: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            # A body cut off mid-transfer fails here as well as one that was never JSON.
            raise LLMError("invalid_json", f"{url} replied with text that is not valid JSON: {response.text[:200]!r}") from exc

    def _parse(self, body: Any) -> Completion:
        try:
            choice = body["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError("invalid_reply", f"reply has no choices[0].message.content: {json.dumps(body)[:200]}") from exc
        finish = choice.get("finish_reason")
        if not isinstance(text, str) or not text.strip():
            raise LLMError("empty_completion", f"model {self.model} returned an empty completion (finish_reason {finish})")
        if finish == "length":
            raise LLMError("cut_off", f"completion stopped at max_tokens before it ended; raise max_tokens for model {self.model}")
        usage = body.get("usage") or {}
        return Completion(
            text=text, model=str(body.get("model", self.model)), prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)), finish_reason=finish,
        )
