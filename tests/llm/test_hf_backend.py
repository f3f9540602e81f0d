"""Hugging Face backend with a tiny randomly initialised GPT-2 built from a config (no download)."""

from __future__ import annotations

import pytest
import torch

from components.errors import InputError
from components.llm import HFCausalLMBackend, Request, ResponseCache, SamplingParams, select_device


@pytest.fixture(scope="module")
def tiny_lm():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = "system user assistant : prove that n is even odd the claim holds step 1 2 3 . , we have".split()
    vocab = {"[PAD]": 0, "[EOS]": 1, "[UNK]": 2, **{w: i + 3 for i, w in enumerate(dict.fromkeys(words))}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=1, pad_token_id=0)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        # Zero embeddings give special tokens logit 0, below the best random word, so completions are not empty.
        model.transformer.wte.weight[:3] = 0.0
    return model, tokenizer


def greedy(text: str, max_tokens: int = 6) -> Request:
    return Request.chat("", text, SamplingParams(temperature=0.0, max_tokens=max_tokens))


def test_batched_greedy_matches_single(tiny_lm):
    model, tokenizer = tiny_lm
    llm = HFCausalLMBackend(model, tokenizer, device="cpu", batch_size=4, name="tiny-gpt2")
    prompts = [greedy("prove that n is even"), greedy("we have"), greedy("the claim holds step 1 2 3 .")]
    batched = llm.complete_many(prompts)
    single = [llm.complete(prompt) for prompt in prompts]
    assert [c.text for c in batched] == [c.text for c in single]
    for completion in batched:
        assert completion.model == "tiny-gpt2"
        assert 0 < completion.completion_tokens <= 6
        assert completion.prompt_tokens > 0
    assert llm.usage.requests == 6
    assert llm.name == "hf:tiny-gpt2"


def test_sampling_respects_sample_index(tiny_lm):
    model, tokenizer = tiny_lm
    llm = HFCausalLMBackend(model, tokenizer, device="cpu")
    params = dict(temperature=1.5, max_tokens=12, seed=3)
    first = llm.complete(Request.chat("", "prove that", SamplingParams(**params, sample=0))).text
    again = llm.complete(Request.chat("", "prove that", SamplingParams(**params, sample=0))).text
    other = [llm.complete(Request.chat("", "prove that", SamplingParams(**params, sample=s))).text for s in range(1, 4)]
    assert first == again
    assert any(text != first for text in other)


def test_cache_skips_generation(tiny_lm, tmp_path):
    model, tokenizer = tiny_lm
    cache = ResponseCache(tmp_path)
    first = HFCausalLMBackend(model, tokenizer, device="cpu", cache=cache).complete(greedy("we have"))
    rerun = HFCausalLMBackend(model, tokenizer, device="cpu", cache=cache)
    second = rerun.complete(greedy("we have"))
    assert second.cached
    assert second.text == first.text
    assert rerun.usage.requests == 0


def test_missing_folder_and_device():
    with pytest.raises(InputError, match="model folder not found"):
        HFCausalLMBackend("/missing/model-folder")
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            select_device("cuda")
