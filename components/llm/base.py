"""The text-generation interface shared by every backend.

A backend turns chat `Request`s into `Completion`s. `complete_many` never raises
for one bad item: it returns an `LLMError` in that item's place, so a batch
run marks the item failed with its reason and carries on.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings sent with a request; `sample` tells apart repeated draws at the same settings."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    seed: int | None = None
    sample: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """One chat completion request: role/content messages plus sampling settings."""

    messages: tuple[tuple[str, str], ...]
    params: SamplingParams = SamplingParams()

    @classmethod
    def chat(cls, system: str, user: str, params: SamplingParams | None = None) -> "Request":
        messages = ((("system", system),) if system.strip() else ()) + (("user", user),)
        return cls(messages=messages, params=params or SamplingParams())

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass
class Completion:
    """The text of one completion and what it cost."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False


class LLMError(Exception):
    """A request that failed for good (after retries); `reason` is a short category, the message the detail."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


@dataclass
class Usage:
    """Token and cost accounting of one backend, safe to update from several threads."""

    requests: int = 0
    cache_hits: int = 0
    failures: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, completion: Completion, cost_per_1k_prompt: float = 0.0, cost_per_1k_completion: float = 0.0) -> None:
        """Count a completion; cached ones count as hits and cost nothing."""
        with self._lock:
            if completion.cached:
                self.cache_hits += 1
                return
            self.requests += 1
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            self.cost += (completion.prompt_tokens * cost_per_1k_prompt
                          + completion.completion_tokens * cost_per_1k_completion) / 1000.0

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def to_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests, "cache_hits": self.cache_hits, "failures": self.failures,
            "retries": self.retries, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost": round(self.cost, 6),
        }


@runtime_checkable
class TextGenerator(Protocol):
    """What every backend provides."""

    name: str
    usage: Usage

    def complete(self, request: Request) -> Completion:
        """Return the completion of one request or raise LLMError."""

    def complete_many(self, requests: Sequence[Request]) -> list[Completion | LLMError]:
        """Complete every request; a failed one yields its LLMError in its place."""
