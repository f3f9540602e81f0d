"""Proof reward model: an outcome head and a process head over step embeddings.

Architecture (one proof with n steps):

    q   = pool(encoder(question))                   (P,)
    s_i = pool(encoder(step_i)), i = 1..n           (n, P)
    x   = [q, s_1, ..., s_n] W_in + type + pos      (n+1, D)
    z   = TransformerEncoder(x)                     (n+1, D)
    outcome logit  = w_o . attention_pool(z)        P(proof correct)
    process logits = w_p . z_i, i = 1..n            P(step i correct)

pool is the mean of the token states (P = H) or the mean concatenated with
a learned attention-weighted sum (P = 2H). Each step is encoded on its own
(with windowing for long steps), and the
aggregator attends over every step, so a proof of any length is scored in full
instead of being truncated to the encoder's 512-token window. Step positions
use sinusoidal encodings, which extend to proofs longer than any seen in
training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from components.errors import InputError
from components.rm.encoder import DEFAULT_ENCODER, TextEncoder

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class RewardModelConfig:
    """Architecture of the reward model; stored with every checkpoint."""

    encoder: str = DEFAULT_ENCODER
    pooling: str = "attention"  # "mean" or "attention" (mean and learned attention over tokens)
    max_length: int = 128
    stride: int = 32
    trainable_layers: int = 0
    d_model: int = 256
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise InputError(
                f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}",
                field="model.d_model",
            )
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout {self.dropout} is outside [0, 1)", field="model.dropout")
        if self.pooling not in ("mean", "attention"):
            raise InputError(f"pooling '{self.pooling}' is not 'mean' or 'attention'", field="model.pooling")


@dataclass
class ProofBatch:
    """Padded step embeddings of several proofs.

    `embeddings` has shape (B, 1 + S, H): the question, then up to S steps.
    `step_mask` (B, S) is True on real steps.
    """

    embeddings: torch.Tensor
    step_mask: torch.Tensor
    outcome_labels: torch.Tensor | None = None  # (B,) 1 = correct proof
    step_labels: torch.Tensor | None = None  # (B, S) 1 = correct step
    step_label_mask: torch.Tensor | None = None  # (B, S) True where the step label is known


@dataclass
class ProofScore:
    """Scores of one proof: P(correct) and P(step correct) per step."""

    outcome: float
    steps: list[float] = field(default_factory=list)

    @property
    def min_step(self) -> float:
        return min(self.steps) if self.steps else self.outcome


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Return the (length, dim) sinusoidal position table of Vaswani et al. (2017), Sec. 3.5."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class TokenPooler(nn.Module):
    """Pools each text's token states into one vector.

    "mean" gives the mean state (H). "attention" concatenates the mean with a
    learned attention-weighted sum (2H), so the heads can focus on the few
    tokens of a step that carry an error, which a plain mean dilutes.
    """

    def __init__(self, hidden_size: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.score = nn.Linear(hidden_size, 1) if mode == "attention" else None
        self.output_size = hidden_size * (2 if mode == "attention" else 1)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Pool states (N, T, H) with mask (N, T) into (N, output_size)."""
        weights = mask.unsqueeze(-1).to(states.dtype)
        mean = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        if self.score is None:
            return mean
        logits = self.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))  # (N, T)
        attended = (torch.softmax(logits, dim=1).unsqueeze(-1) * states).sum(1)
        return torch.cat([mean, attended], dim=-1)


class ProofAggregator(nn.Module):
    """Token pooler, then a transformer over [question, steps] vectors with outcome and process heads."""

    def __init__(self, hidden_size: int, config: RewardModelConfig) -> None:
        super().__init__()
        self.config = config
        self.pooler = TokenPooler(hidden_size, config.pooling)
        self.project = nn.Linear(self.pooler.output_size, config.d_model)
        self.segment = nn.Embedding(2, config.d_model)  # 0 = question, 1 = step
        self.norm = nn.LayerNorm(config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            dim_feedforward=4 * config.d_model,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.pool_query = nn.Linear(config.d_model, 1)
        self.outcome_head = nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, 1))
        self.process_head = nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, 1))

    def forward(self, embeddings: torch.Tensor, step_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (outcome logits (B,), process logits (B, S)) for embeddings (B, 1 + S, H)."""
        batch, length, _ = embeddings.shape
        device = embeddings.device

        # Input projection plus segment and step-position encodings.
        x = self.project(embeddings)  # (B, L, D)
        segments = torch.ones(batch, length, dtype=torch.long, device=device)
        segments[:, 0] = 0
        x = x + self.segment(segments) + sinusoidal_positions(length, x.shape[-1]).to(device)
        x = self.norm(x)

        # Contextualise steps; padding positions are masked out of attention.
        token_mask = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=device), step_mask], dim=1)
        z = self.transformer(x, src_key_padding_mask=~token_mask)  # (B, L, D)

        # Attention pooling over question and real steps for the outcome.
        scores = self.pool_query(z).squeeze(-1).masked_fill(~token_mask, float("-inf"))  # (B, L)
        pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * z).sum(1)  # (B, D)
        outcome = self.outcome_head(pooled).squeeze(-1)  # (B,)
        process = self.process_head(z[:, 1:]).squeeze(-1)  # (B, S)
        return outcome, process


class ProofRewardModel(nn.Module):
    """Text encoder plus aggregator; scores (question, steps) pairs."""

    def __init__(self, config: RewardModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or RewardModelConfig()
        self.encoder = TextEncoder(
            self.config.encoder,
            max_length=self.config.max_length,
            stride=self.config.stride,
            trainable_layers=self.config.trainable_layers,
        )
        self.aggregator = ProofAggregator(self.encoder.hidden_size, self.config)
        # P(correct) below this threshold predicts "incorrect"; set by training on validation data.
        self.threshold = 0.5

    def batch(self, proofs: Sequence[tuple[str, Sequence[str]]], *, progress: bool = False) -> ProofBatch:
        """Embed questions and steps of several proofs into one padded batch."""
        texts: list[str] = []
        for question, steps in proofs:
            if not steps:
                raise InputError(f"proof of question {question[:60]!r} has no steps", field="steps")
            texts.append(question)
            texts.extend(steps)
        flat = self.pool(self.encoder.token_states(texts, progress=progress))  # (total, P)

        longest = max(len(steps) for _, steps in proofs)
        embeddings = flat.new_zeros(len(proofs), 1 + longest, flat.shape[-1])
        step_mask = torch.zeros(len(proofs), longest, dtype=torch.bool)
        offset = 0
        for row, (_, steps) in enumerate(proofs):
            count = 1 + len(steps)
            embeddings[row, :count] = flat[offset : offset + count]
            step_mask[row, : len(steps)] = True
            offset += count
        return ProofBatch(embeddings=embeddings, step_mask=step_mask.to(flat.device))

    def pool(self, states: Sequence[torch.Tensor], chunk: int = 256) -> torch.Tensor:
        """Pool per-text token states (each (T_i, H)) into (len(states), P), padding texts of similar length together."""
        order = sorted(range(len(states)), key=lambda i: len(states[i]))
        pooled: list[torch.Tensor] = []
        for start in range(0, len(order), chunk):
            group = [states[i] for i in order[start : start + chunk]]
            width = max(len(state) for state in group)
            padded = group[0].new_zeros(len(group), width, group[0].shape[-1])
            mask = torch.zeros(len(group), width, dtype=torch.bool, device=padded.device)
            for row, state in enumerate(group):
                padded[row, : len(state)] = state
                mask[row, : len(state)] = True
            pooled.append(self.aggregator.pooler(padded, mask))
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order))
        return torch.cat(pooled)[inverse.to(pooled[0].device)]

    def forward(self, batch: ProofBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.aggregator(batch.embeddings, batch.step_mask)

    @torch.no_grad()
    def score(
        self,
        proofs: Sequence[tuple[str, Sequence[str]]],
        *,
        batch_size: int = 16,
        progress: bool = False,
    ) -> list[ProofScore]:
        """Score proofs; returns P(correct) and per-step P(step correct) for each."""
        was_training = self.training
        self.eval()
        results: list[ProofScore] = []
        try:
            starts = range(0, len(proofs), batch_size)
            for start in tqdm(starts, desc="score", unit="batch", disable=not progress, leave=False):
                chunk = proofs[start : start + batch_size]
                batch = self.batch(chunk)
                outcome, process = self(batch)
                outcome_p = torch.sigmoid(outcome).tolist()
                process_p = torch.sigmoid(process)
                for row, (_, steps) in enumerate(chunk):
                    results.append(ProofScore(outcome_p[row], process_p[row, : len(steps)].tolist()))
        finally:
            self.train(was_training)
        return results

    def save(self, directory: str | Path) -> Path:
        """Write config.json and weights.pt; encoder weights are stored only when fine-tuned."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"aggregator": self.aggregator.state_dict()}
        if self.config.trainable_layers > 0:
            state["encoder"] = self.encoder.model.state_dict()
        torch.save(state, directory / "weights.pt")
        meta = {"version": CHECKPOINT_VERSION, "config": asdict(self.config), "threshold": self.threshold}
        (directory / "config.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "ProofRewardModel":
        """Load a checkpoint written by `save`."""
        directory = Path(directory)
        meta_path = directory / "config.json"
        if not meta_path.exists():
            raise InputError(
                "not a reward-model checkpoint (config.json missing)",
                path=directory,
                hint="Pass a directory written by the proof-rm train stage or an MLflow model URI",
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("version") != CHECKPOINT_VERSION:
            raise InputError(
                f"checkpoint version {meta.get('version')} is not supported (expected {CHECKPOINT_VERSION})",
                path=meta_path,
            )
        model = cls(RewardModelConfig(**meta["config"]))
        state = torch.load(directory / "weights.pt", map_location="cpu", weights_only=True)
        model.aggregator.load_state_dict(state["aggregator"])
        if "encoder" in state:
            model.encoder.model.load_state_dict(state["encoder"])
        model.threshold = float(meta.get("threshold", 0.5))
        model.eval()
        return model
