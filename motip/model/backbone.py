"""ResNet backbone with frozen batch norm + sine position encoding (Deformable DETR's `backbone` = Joiner).

Parameter names follow the official tree: `backbone.0.body.<resnet layer>` and `backbone.1` (the position
encoding, which has no parameters). Weights are never downloaded: torchvision builds the ResNet with
`weights=None`; a local ImageNet state dict can be loaded with `load_backbone_weights`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from motip.config.settings import backbone_lr, model_settings
from motip.errors import MotipError

# Output channels of layer2/3/4 (the three levels Deformable DETR takes from the ResNet).
_RESNET_CHANNELS = {
    "resnet18": [128, 256, 512],
    "resnet34": [128, 256, 512],
    "resnet50": [512, 1024, 2048],
    "resnet101": [512, 1024, 2048],
}


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (all buffers, as in the official code)."""

    def __init__(self, n: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))
        self.eps = eps

    def _load_from_state_dict(self, state_dict: dict[str, torch.Tensor], prefix: str, local_metadata: dict[str, Any],
                              strict: bool, missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str]) -> None:
        # torchvision ImageNet weights carry num_batches_tracked; we have no such buffer.
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight.reshape(1, -1, 1, 1) * (self.running_var.reshape(1, -1, 1, 1) + self.eps).rsqrt()
        bias = self.bias.reshape(1, -1, 1, 1) - self.running_mean.reshape(1, -1, 1, 1) * scale
        return x * scale + bias


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Padding mask [B,H,W] (True = padded) resized with nearest neighbour, as the official code does."""
    return F.interpolate(mask[None].float(), size=size).to(torch.bool)[0]


class Backbone(nn.Module):
    """ResNet body returning layer2..4 (or only layer4) feature maps with their padding masks."""

    def __init__(self, name: str, train_backbone: bool, return_interm_layers: bool, dilation: bool,
                 num_interm_levels: int = 3) -> None:
        super().__init__()
        if name not in _RESNET_CHANNELS:
            raise MotipError(f"unsupported BACKBONE {name!r}", hint=f"use one of {sorted(_RESNET_CHANNELS)}")
        resnet = getattr(torchvision.models, name)(
            weights=None, replace_stride_with_dilation=[False, False, dilation], norm_layer=FrozenBatchNorm2d,
        ) if name not in ("resnet18", "resnet34") else getattr(torchvision.models, name)(
            weights=None, norm_layer=FrozenBatchNorm2d,  # BasicBlock ResNets do not support dilation
        )
        # The stem and layer1 stay frozen even when the backbone trains (official behaviour).
        for pname, param in resnet.named_parameters():
            if not train_backbone or ("layer2" not in pname and "layer3" not in pname and "layer4" not in pname):
                param.requires_grad_(False)
        channels = _RESNET_CHANNELS[name]
        if return_interm_layers:
            # Official: layer2..4. Our extension for small configs with 2 levels: layer3..4 only.
            names = ["layer2", "layer3", "layer4"][3 - num_interm_levels:]
            return_layers = {layer: str(i) for i, layer in enumerate(names)}
            self.strides = [8, 16, 32][3 - num_interm_levels:]
            self.num_channels = list(channels)[3 - num_interm_levels:]
        else:
            return_layers = {"layer4": "0"}
            self.strides = [32]
            self.num_channels = [channels[-1]]
        if dilation and name not in ("resnet18", "resnet34"):
            self.strides[-1] = self.strides[-1] // 2
        self.body = IntermediateLayerGetter(resnet, return_layers=return_layers)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        features = self.body(images)
        return [(x, _resize_mask(mask, x.shape[-2:])) for _, x in sorted(features.items())]


class PositionEmbeddingSine(nn.Module):
    """Normalised sine/cosine position encoding over the un-padded area of each image."""

    def __init__(self, num_pos_feats: int = 128, temperature: int = 10000, normalize: bool = True,
                 scale: float | None = None) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = (y_embed - 0.5) / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = (x_embed - 0.5) / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=x.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class Joiner(nn.Sequential):
    """`backbone.0` = ResNet, `backbone.1` = position encoding; returns features, masks and encodings."""

    def __init__(self, backbone: Backbone, position_embedding: PositionEmbeddingSine) -> None:
        super().__init__(backbone, position_embedding)
        self.strides = backbone.strides
        self.num_channels = backbone.num_channels

    def forward(self, images: torch.Tensor,
                mask: torch.Tensor) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
        features = self[0](images, mask)
        pos = [self[1](x, m).to(x.dtype) for x, m in features]
        return features, pos


def build_backbone(config: Mapping[str, Any]) -> Joiner:
    settings = model_settings(config)
    if settings.position_embedding not in ("sine", "v2"):
        raise MotipError(f"DETR_POSITION_EMBEDDING {settings.position_embedding!r} is not supported",
                         hint="use 'sine' (the official setting)")
    train_backbone = backbone_lr(config) > 0  # the same rule as the optimiser's backbone group
    num_levels = settings.num_feature_levels
    return_interm = settings.masks or num_levels > 1
    body = Backbone(settings.backbone, train_backbone, return_interm, settings.dilation,
                    num_interm_levels=min(3, max(num_levels, 1)))
    return Joiner(body, PositionEmbeddingSine(settings.hidden_dim // 2, normalize=True))


def load_backbone_weights(joiner: Joiner, path: str | Path) -> None:
    """Load a local torchvision ResNet state dict (e.g. resnet50-0676ba61.pth) into `backbone.0.body`."""
    from motip.model.pretrain import load_checkpoint_file

    state = load_checkpoint_file(path, what="backbone weights")  # weights_only=True; MotipError naming the file
    if not isinstance(state, dict):
        raise MotipError("backbone weights are not a state dict", path=path,
                         hint="pass a torchvision ResNet state dict matching BACKBONE")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}  # classifier is not part of the body
    body = joiner[0].body
    missing, unexpected = body.load_state_dict(state, strict=False)
    if missing:
        raise MotipError(f"backbone weights lack {len(missing)} keys, first {missing[0]!r}", path=path,
                         hint="pass a torchvision ResNet state dict matching BACKBONE")
