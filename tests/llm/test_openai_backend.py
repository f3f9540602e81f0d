"""OpenAI-compatible backend against a real HTTP server on 127.0.0.1: request shape, retries, faults, cache."""

from __future__ import annotations

import threading
import time

import pytest

from components.llm import LLMError, OpenAIChatBackend, Request, ResponseCache, SamplingParams
from tests.llm.openai_server import OpenAITestServer


@pytest.fixture
def server():
    with OpenAITestServer() as running:
        yield running


def backend(server, **options) -> OpenAIChatBackend:
    settings = {"timeout": 2.0, "max_retries": 2, "backoff": 0.01, "concurrency": 1, "api_key": "sk-test"}
    return OpenAIChatBackend(server.base_url, "test-model", **{**settings, **options})


def request(text: str = "Prove it.", **params) -> Request:
    return Request.chat("You are careful.", text, SamplingParams(**params))


def test_request_shape_and_usage(server):
    llm = backend(server, cost_per_1k_prompt=1.0, cost_per_1k_completion=2.0)
    completion = llm.complete(request(temperature=0.3, top_p=0.9, max_tokens=64, seed=5, sample=2))

    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-test"
    assert sent["body"]["model"] == "test-model"
    assert sent["body"]["messages"] == [{"role": "system", "content": "You are careful."},
                                        {"role": "user", "content": "Prove it."}]
    assert sent["body"]["temperature"] == 0.3
    assert sent["body"]["top_p"] == 0.9
    assert sent["body"]["max_tokens"] == 64
    assert sent["body"]["seed"] == 7  # seed + sample, so repeated samples differ
    assert completion.finish_reason == "stop"
    usage = llm.usage.to_dict()
    assert usage["requests"] == 1
    assert usage["prompt_tokens"] == 2
    assert usage["completion_tokens"] == completion.completion_tokens > 0
    assert usage["cost"] == pytest.approx((2 * 1.0 + completion.completion_tokens * 2.0) / 1000)


def test_model_auto_lists_server_models(server):
    llm = OpenAIChatBackend(server.base_url, "auto", timeout=2.0)
    assert llm.model == "test-model"
    assert llm.name == "openai:test-model"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_then_succeeds(server, status):
    server.script.extend([("status", status), ("status", status)])
    llm = backend(server)
    assert llm.complete(request()).text
    assert len(server.requests) == 3
    assert llm.usage.retries == 2


def test_retries_exhausted_on_429(server):
    server.script.extend([("status", 429)] * 3)
    llm = backend(server)
    with pytest.raises(LLMError, match=r"http_429.*returned 429"):
        llm.complete(request())
    assert len(server.requests) == 3
    assert llm.usage.failures == 1


def test_client_error_not_retried(server):
    server.script.append(("status", 400))
    with pytest.raises(LLMError, match="http_400"):
        backend(server).complete(request())
    assert len(server.requests) == 1


def test_backoff_doubles(server, monkeypatch):
    delays = []
    monkeypatch.setattr("components.llm.openai_http.time.sleep", delays.append)
    server.script.extend([("status", 502)] * 2)
    backend(server, backoff=0.5).complete(request())
    assert delays == [0.5, 1.0]


@pytest.mark.parametrize(
    "fault, reason",
    [
        (("raw", "this is not JSON"), "invalid_json"),
        (("raw", '{"choices": [{"message": {"content": "cut'), "invalid_json"),
        (("raw", '{"object": "error"}'), "invalid_reply"),
        (("text", "   "), "empty_completion"),
        (("finish", "length"), "cut_off"),
    ],
)
def test_bad_replies_fail_with_reason(server, fault, reason):
    server.script.append(fault)
    with pytest.raises(LLMError) as caught:
        backend(server).complete(request())
    assert caught.value.reason == reason


def test_connection_dropped_mid_body_is_retried(server):
    server.script.append(("drop", None))
    assert backend(server).complete(request()).text
    assert len(server.requests) == 2


def test_timeout(server):
    server.script.extend([("sleep", 1.0)] * 2)
    llm = backend(server, timeout=0.2, max_retries=1)
    with pytest.raises(LLMError) as caught:
        llm.complete(request())
    assert caught.value.reason == "timeout"


def test_unreachable_endpoint():
    with OpenAITestServer() as closed:
        url = closed.base_url
    llm = OpenAIChatBackend(url, "m", timeout=1.0, max_retries=1, backoff=0.0)
    with pytest.raises(LLMError) as caught:
        llm.complete(request())
    assert caught.value.reason == "unreachable"


def test_complete_many_marks_failures_and_limits_concurrency(server):
    in_flight, peak = 0, 0
    lock = threading.Lock()
    original = OpenAIChatBackend._send

    def counting(self, *args):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        try:
            return original(self, *args)
        finally:
            with lock:
                in_flight -= 1

    server.script.append(("raw", "not json"))
    llm = backend(server, concurrency=3, max_retries=0)
    OpenAIChatBackend._send = counting
    try:
        results = llm.complete_many([request(f"Prove claim {i}.") for i in range(9)])
    finally:
        OpenAIChatBackend._send = original
    failed = [r for r in results if isinstance(r, LLMError)]
    assert len(results) == 9
    assert len(failed) == 1
    assert failed[0].reason == "invalid_json"
    assert peak == 3


def test_cache_makes_rerun_free(server, tmp_path):
    cache = ResponseCache(tmp_path)
    first = backend(server, cache=cache).complete(request(seed=1))
    again = backend(server, cache=cache)
    second = again.complete(request(seed=1))
    assert second.text == first.text
    assert second.cached
    assert len(server.requests) == 1
    assert again.usage.cache_hits == 1
    assert again.usage.requests == 0
    backend(server, cache=cache).complete(request(seed=1, sample=1))  # another sample is another key
    assert len(server.requests) == 2
