"""Text generation with language models: one interface, three backends, an on-disk response cache.

- `OpenAIChatBackend`: any OpenAI-compatible chat completions server (vLLM, Ollama, llama.cpp server, OpenAI);
- `HFCausalLMBackend`: a local Hugging Face causal language model;
- the embedded rule-based generator (`components.proofs.generate.EmbeddedGenerator`), which
  needs no prompt and is chosen with `backend: embedded` in the pipeline config.
"""

from components.llm.base import Completion, LLMError, Request, SamplingParams, TextGenerator, Usage
from components.llm.cache import ResponseCache, cache_key
from components.llm.hf_local import HFCausalLMBackend, select_device
from components.llm.openai_http import OpenAIChatBackend

__all__ = [
    "Completion", "HFCausalLMBackend", "LLMError", "OpenAIChatBackend", "Request", "ResponseCache", "SamplingParams",
    "TextGenerator", "Usage", "cache_key", "select_device",
]
