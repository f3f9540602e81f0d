"""A CSDI-style conditional diffusion imputer, small enough to train on a CPU.

Denoiser after Tashiro et al., "CSDI: Conditional Score-based Diffusion Models for
Probabilistic Time Series Imputation" (NeurIPS 2021): the input stacks the conditioning
values and the noisy targets as two channels over a (K features x L steps) grid; each
residual layer adds the diffusion-step embedding, runs a transformer over time (per
feature) and one over features (per step), then a gated activation with side information
(time and feature embeddings and the conditioning mask). Shapes: B windows, K features,
L steps, C channels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DenoiserConfig:
    channels: int = 32
    layers: int = 2
    heads: int = 4
    diffusion_embedding: int = 64
    time_embedding: int = 32
    feature_embedding: int = 8
    n_features: int = 7


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of positions (...,) -> (..., dim), as in the transformer paper."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = positions[..., None].float() * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class ResidualLayer(nn.Module):
    def __init__(self, channels: int, side_dim: int, diffusion_dim: int, heads: int) -> None:
        super().__init__()
        self.diffusion_projection = nn.Linear(diffusion_dim, channels)
        self.side_projection = nn.Conv1d(side_dim, 2 * channels, 1)
        self.mid_projection = nn.Conv1d(channels, 2 * channels, 1)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)
        self.time_layer = nn.TransformerEncoderLayer(channels, heads, dim_feedforward=2 * channels, dropout=0.0, batch_first=True)
        self.feature_layer = nn.TransformerEncoderLayer(channels, heads, dim_feedforward=2 * channels, dropout=0.0, batch_first=True)

    def forward(self, x: torch.Tensor, side: torch.Tensor, diffusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels, n_features, length = x.shape
        y = x + self.diffusion_projection(diffusion)[:, :, None, None]

        # Attention over time for each feature, then over features for each step.
        y = y.permute(0, 2, 3, 1).reshape(batch * n_features, length, channels)
        y = self.time_layer(y).reshape(batch, n_features, length, channels)
        y = y.permute(0, 2, 1, 3).reshape(batch * length, n_features, channels)
        y = self.feature_layer(y).reshape(batch, length, n_features, channels).permute(0, 3, 2, 1)

        # Gated activation with side information; split into residual and skip.
        y = self.mid_projection(y.reshape(batch, channels, -1)) + self.side_projection(side.reshape(batch, side.shape[1], -1))
        gate, filt = y.chunk(2, dim=1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, dim=1)
        residual = residual.reshape(x.shape)
        return (x + residual) / math.sqrt(2.0), skip.reshape(x.shape)


class Denoiser(nn.Module):
    """Predict the noise eps (B, K, L) from the conditioning values, noisy targets, mask and step."""

    def __init__(self, config: DenoiserConfig, n_steps: int) -> None:
        super().__init__()
        self.config = config
        c = config
        self.input_projection = nn.Conv1d(2, c.channels, 1)
        self.step_embedding = nn.Sequential(nn.Linear(c.diffusion_embedding, c.diffusion_embedding), nn.SiLU(),
                                            nn.Linear(c.diffusion_embedding, c.diffusion_embedding), nn.SiLU())
        self.feature_table = nn.Embedding(c.n_features, c.feature_embedding)
        side_dim = c.time_embedding + c.feature_embedding + 1
        self.layers = nn.ModuleList(ResidualLayer(c.channels, side_dim, c.diffusion_embedding, c.heads) for _ in range(c.layers))
        self.skip_projection = nn.Conv1d(c.channels, c.channels, 1)
        self.output = nn.Conv1d(c.channels, 1, 1)
        nn.init.zeros_(self.output.weight)
        self.n_steps = n_steps

    def side_info(self, cond_mask: torch.Tensor) -> torch.Tensor:
        batch, n_features, length = cond_mask.shape
        time = sinusoid(torch.arange(length), self.config.time_embedding)  # (L, Dt)
        time = time[None, None].expand(batch, n_features, length, -1)
        feature = self.feature_table(torch.arange(n_features))[None, :, None].expand(batch, n_features, length, -1)
        side = torch.cat([time, feature, cond_mask[..., None]], dim=-1)  # (B, K, L, S)
        return side.permute(0, 3, 1, 2)

    def forward(self, cond: torch.Tensor, noisy: torch.Tensor, cond_mask: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        batch, n_features, length = cond.shape
        x = torch.stack([cond * cond_mask, noisy * (1 - cond_mask)], dim=1).reshape(batch, 2, -1)
        x = torch.relu(self.input_projection(x)).reshape(batch, -1, n_features, length)
        diffusion = self.step_embedding(sinusoid(t, self.config.diffusion_embedding))
        side = self.side_info(cond_mask)
        skips = 0.0
        for layer in self.layers:
            x, skip = layer(x, side, diffusion)
            skips = skips + skip
        y = skips.reshape(batch, x.shape[1], -1) / math.sqrt(len(self.layers))
        y = self.output(torch.relu(self.skip_projection(y)))
        return y.reshape(batch, n_features, length)


@dataclass(frozen=True)
class Schedule:
    """CSDI's quadratic noise schedule: sqrt(beta) linear from sqrt(beta_start) to sqrt(beta_end)."""

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor

    @classmethod
    def quadratic(cls, n_steps: int, beta_start: float = 1e-4, beta_end: float = 0.5) -> "Schedule":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, n_steps) ** 2
        alphas = 1.0 - betas
        return cls(betas=betas, alphas=alphas, alpha_bars=torch.cumprod(alphas, 0))


def config_dict(config: DenoiserConfig) -> dict:
    return asdict(config)
