"""Models for the optimizer comparisons: GPT and ViT in vanilla pre-norm and DNT layouts, and an MLP."""

from components.models.transformer import GPT, MLP, ViT, TransformerConfig, count_parameters

__all__ = ["GPT", "MLP", "TransformerConfig", "ViT", "count_parameters"]
