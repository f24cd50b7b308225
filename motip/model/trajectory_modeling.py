"""Trajectory modeling (`model.trajectory_modeling`): two residual FFN blocks over trajectory features."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FFN(nn.Module):
    """linear1 -> activation -> linear2 (official `models/ffn.py` names)."""

    def __init__(self, d_model: int, d_ffn: int, activation: nn.Module | None = None) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.activation = activation if activation is not None else nn.ReLU(inplace=True)
        self.linear2 = nn.Linear(d_ffn, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.activation(self.linear1(x)))


class TrajectoryModeling(nn.Module):
    """Adapts DETR embeddings of past detections into trajectory features (residual FFN + LayerNorm, twice)."""

    def __init__(self, detr_dim: int, ffn_dim_ratio: int, feature_dim: int) -> None:
        super().__init__()
        self.detr_dim = detr_dim
        self.ffn_dim_ratio = ffn_dim_ratio
        self.feature_dim = feature_dim
        self.adapter = FFN(detr_dim, detr_dim * ffn_dim_ratio, nn.GELU())
        self.norm = nn.LayerNorm(feature_dim)
        self.ffn = FFN(feature_dim, feature_dim * ffn_dim_ratio, nn.GELU())
        self.ffn_norm = nn.LayerNorm(feature_dim)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, seq_info: dict[str, Any]) -> dict[str, Any]:
        """Updates seq_info["trajectory_features"] [B,G,T,N,C] in place and returns seq_info."""
        x = seq_info["trajectory_features"]
        x = self.norm(x + self.adapter(x))
        x = self.ffn_norm(x + self.ffn(x))
        seq_info["trajectory_features"] = x
        return seq_info
