"""Local Hugging Face causal language model: batched generation on a chosen device.

Prompts use the tokenizer's chat template when it has one, else the messages
joined as "role: content" lines. Batches are left-padded, so every row's
completion starts right after its prompt. A completion that reached
`max_tokens` is returned with finish_reason "length" instead of failing as in
the HTTP backend; the method parsers reject the truncated JSON it usually holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from components.errors import InputError
from components.llm.base import Completion, LLMError, Request, Usage
from components.llm.cache import ResponseCache, cache_key

logger = logging.getLogger(__name__)


def select_device(device: str) -> torch.device:
    """Map "auto" to CUDA, then MPS, then CPU; check that an explicit device exists."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device '{device}' requested but CUDA is not available", field="device", hint="Use device=cpu or auto")
    return torch.device(device)


class HFCausalLMBackend:
    """Generate with a `transformers` causal LM loaded from a local folder (or given as objects)."""

    kind = "hf"

    def __init__(
        self,
        model: str | Path | Any,
        tokenizer: Any | None = None,
        *,
        device: str = "auto",
        batch_size: int = 8,
        cache: ResponseCache | None = None,
        name: str | None = None,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = select_device(device)
        if isinstance(model, (str, Path)):
            path = Path(model).expanduser()
            if not path.exists():
                raise InputError("Hugging Face model folder not found", path=path,
                                 hint="Download the model first and give its local folder; nothing is fetched from the network")
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
            name = name or path.name
        if tokenizer is None:
            raise InputError("a tokenizer is needed with a model object", field="tokenizer")
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = batch_size
        self.cache = cache
        self.model_name = name or getattr(model.config, "_name_or_path", "") or model.config.model_type
        self.name = f"hf:{self.model_name}"
        self.usage = Usage()

    def prompt_text(self, request: Request) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(request.message_dicts(), tokenize=False, add_generation_prompt=True)
        return "\n".join(f"{role}: {content}" for role, content in request.messages) + "\nassistant:"

    def complete(self, request: Request) -> Completion:
        result = self.complete_many([request])[0]
        if isinstance(result, LLMError):
            raise result
        return result

    def complete_many(self, requests: Sequence[Request]) -> list[Completion | LLMError]:
        """Complete requests in batches of equal sampling settings; cached ones are not recomputed."""
        results: list[Completion | LLMError | None] = [None] * len(requests)
        keys = [cache_key(self.kind, self.model_name, request) for request in requests]
        pending: dict[Any, list[int]] = {}
        for index, request in enumerate(requests):
            hit = self.cache.get(keys[index]) if self.cache is not None else None
            if hit is not None:
                results[index] = hit
                self.usage.add(hit)
            else:
                pending.setdefault(request.params, []).append(index)

        for params, indices in pending.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                for index, completion in zip(chunk, self._generate([requests[i] for i in chunk], params)):
                    results[index] = completion
                    if isinstance(completion, Completion):
                        self.usage.add(completion)
                        if self.cache is not None:
                            self.cache.put(keys[index], completion)
                    else:
                        self.usage.count("failures")
        return [result for result in results if result is not None]

    @torch.no_grad()
    def _generate(self, requests: Sequence[Request], params) -> list[Completion | LLMError]:
        prompts = [self.prompt_text(request) for request in requests]
        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)  # (B, T)
        do_sample = params.temperature > 0
        generator_seed = (params.seed or 0) + params.sample
        torch.manual_seed(generator_seed)
        output = self.model.generate(
            **encoded, max_new_tokens=params.max_tokens, do_sample=do_sample,
            temperature=params.temperature if do_sample else None, top_p=params.top_p if do_sample else None,
            pad_token_id=self.tokenizer.pad_token_id,
        )  # (B, T + new)
        prompt_length = encoded["input_ids"].shape[1]
        results: list[Completion | LLMError] = []
        for row in range(len(requests)):
            new_tokens = output[row, prompt_length:]
            eos = self.tokenizer.eos_token_id
            ended = eos is not None and bool((new_tokens == eos).any())
            new_tokens = new_tokens[new_tokens != self.tokenizer.pad_token_id] if self.tokenizer.pad_token_id is not None else new_tokens
            text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
            prompt_tokens = int(encoded["attention_mask"][row].sum())
            if not text.strip():
                results.append(LLMError("empty_completion", f"model {self.model_name} returned an empty completion"))
                continue
            results.append(Completion(
                text=text, model=self.model_name, prompt_tokens=prompt_tokens, completion_tokens=int(new_tokens.numel()),
                finish_reason="stop" if ended else "length",
            ))
        return results
