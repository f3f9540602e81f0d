"""Small transformers in two normalisation layouts: vanilla pre-norm and the Deeply Normalized Transformer.

Vanilla pre-norm (GPT-2 style), per block:
    x = x + Attn(LN(x));  x = x + MLP(LN(x));  final LN before the head.

DNT ("Deeply Normalized Transformer", ICLR 2026, arXiv 2507.17501) adds norms so
that each layer's Jacobian stays well conditioned and gradients are not
heavy-tailed, which lets momentum SGD train it:
    x = InNorm(embed(tokens))                                      input norm
    x = x + MidNorm(Attn_qknorm(PreNorm(x)))                       pre-norm, QK-norm, sub-layer output norm
    x = x + MidNorm(MLP(PreNorm(x)))
    final norm before the head.
QK-norm normalises queries and keys per head before the dot product.

Both layouts use LayerNorm, so the only difference is where norms sit; DNT
adds 2 * n_layers + 1 norms (and 2 per attention layer for QK-norm), a few
hundred parameters at these sizes. Shapes: B batch, T sequence, C channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Layout = Literal["vanilla", "dnt"]


@dataclass(frozen=True)
class TransformerConfig:
    """Size and layout of a transformer; `vocab_size` is the number of tokens (GPT) or unused (ViT)."""

    layout: Layout = "vanilla"
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4
    max_len: int = 128
    vocab_size: int = 65
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.layout not in ("vanilla", "dnt"):
            raise ValueError(f"invalid layout = {self.layout!r}; allowed: vanilla, dnt")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


class Attention(nn.Module):
    """Multi-head self-attention, causal or not, with optional QK-norm."""

    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.causal = causal
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        head_dim = config.d_model // config.n_heads
        self.q_norm = nn.LayerNorm(head_dim) if config.layout == "dnt" else nn.Identity()
        self.k_norm = nn.LayerNorm(head_dim) if config.layout == "dnt" else nn.Identity()
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))  # B, H, T, D
        q, k = self.q_norm(q), self.k_norm(k)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        dnt = config.layout == "dnt"
        self.pre_attn = nn.LayerNorm(config.d_model)
        self.attn = Attention(config, causal)
        self.mid_attn = nn.LayerNorm(config.d_model) if dnt else nn.Identity()
        self.pre_mlp = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.mlp_ratio * config.d_model),
            nn.GELU(),
            nn.Linear(config.mlp_ratio * config.d_model, config.d_model),
        )
        self.mid_mlp = nn.LayerNorm(config.d_model) if dnt else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mid_attn(self.attn(self.pre_attn(x)))
        return x + self.mid_mlp(self.mlp(self.pre_mlp(x)))


class Trunk(nn.Module):
    """Input norm (DNT only), the blocks and the final norm."""

    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        self.in_norm = nn.LayerNorm(config.d_model) if config.layout == "dnt" else nn.Identity()
        self.blocks = nn.ModuleList(Block(config, causal) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.in_norm(x)
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x)


def init_weights(module: nn.Module) -> None:
    """GPT-2 initialisation: normal(0, 0.02) weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class GPT(nn.Module):
    """Causal language model: token and position embeddings, the trunk, a linear head (untied)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_len, config.d_model)
        self.trunk = Trunk(config, causal=True)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(init_weights)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Map tokens (B, T) to next-token logits (B, T, vocab_size)."""
        T = tokens.shape[1]
        if T > self.config.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.config.max_len}")
        positions = torch.arange(T, device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)  # B, T, C
        return self.head(self.trunk(x))


class ViT(nn.Module):
    """Vision transformer for small square grey images: patch embedding, class token, the trunk, a linear head."""

    def __init__(self, config: TransformerConfig, image_size: int, patch_size: int, n_classes: int) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be divisible by patch_size ({patch_size})")
        self.patch_size = patch_size
        n_patches = (image_size // patch_size) ** 2
        self.patch_embedding = nn.Linear(patch_size * patch_size, config.d_model)
        self.class_token = nn.Parameter(torch.zeros(1, 1, config.d_model))
        self.position_embedding = nn.Parameter(torch.randn(1, n_patches + 1, config.d_model) * 0.02)
        self.trunk = Trunk(config, causal=False)
        self.head = nn.Linear(config.d_model, n_classes)
        self.apply(init_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map images (B, H, W) to class logits (B, n_classes)."""
        B, H, W = images.shape
        p = self.patch_size
        patches = images.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 2, 4).reshape(B, -1, p * p)  # B, N, p*p
        x = torch.cat([self.class_token.expand(B, -1, -1), self.patch_embedding(patches)], dim=1)
        x = x + self.position_embedding
        return self.head(self.trunk(x)[:, 0])


class MLP(nn.Module):
    """Multilayer perceptron on flattened images, in a plain or a normalised (DNT-like) layout.

    The normalised layout puts a LayerNorm on the input and after every hidden linear layer.
    """

    def __init__(self, in_features: int, hidden: int, n_layers: int, n_classes: int, layout: Layout = "vanilla") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        if layout == "dnt":
            layers.append(nn.LayerNorm(in_features))
        width = in_features
        for _ in range(n_layers):
            layers.append(nn.Linear(width, hidden))
            if layout == "dnt":
                layers.append(nn.LayerNorm(hidden))
            layers.append(nn.GELU())
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
