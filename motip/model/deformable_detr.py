"""Deformable DETR detector (`model.detr`), official parameter names and outputs."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from motip.model.backbone import Joiner, _resize_mask
from motip.model.deformable_transformer import DeformableTransformer, inverse_sigmoid


class MLP(nn.Module):
    """Plain MLP with ReLU between layers (the box head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x


def split_frames(samples: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept a [B,3,H,W] tensor (+ optional padding mask [B,H,W], True = padded) or anything with
    `.tensors` and `.mask` (the official NestedTensor), and return (images, mask)."""
    if hasattr(samples, "tensors") and hasattr(samples, "mask"):
        images, mask = samples.tensors, samples.mask
    else:
        images = samples
    if mask is None:
        mask = torch.zeros((images.shape[0], images.shape[2], images.shape[3]), dtype=torch.bool,
                           device=images.device)
    return images, mask


class DeformableDETR(nn.Module):
    """Single-stage Deformable DETR with iterative box refinement and auxiliary outputs."""

    def __init__(self, backbone: Joiner, transformer: DeformableTransformer, num_classes: int, num_queries: int,
                 num_feature_levels: int, aux_loss: bool = True, with_box_refine: bool = True) -> None:
        super().__init__()
        # Registration order matches the official module, so state_dict() lists keys in the same order.
        self.num_queries = num_queries
        self.transformer = transformer
        hidden_dim = transformer.d_model
        class_embed = nn.Linear(hidden_dim, num_classes)
        bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3)
        # Placeholders so class_embed/bbox_embed take their official place in the state_dict order.
        self.class_embed = class_embed
        self.bbox_embed = bbox_embed
        self.num_feature_levels = num_feature_levels
        self.query_embed = nn.Embedding(num_queries, hidden_dim * 2)
        input_proj = []
        in_channels = backbone.num_channels[-1]
        if num_feature_levels > 1:
            for channels in backbone.num_channels:
                input_proj.append(nn.Sequential(nn.Conv2d(channels, hidden_dim, kernel_size=1),
                                                nn.GroupNorm(32, hidden_dim)))
            for _ in range(num_feature_levels - len(backbone.num_channels)):
                # Extra coarser levels come from a stride-2 conv on the last backbone map.
                input_proj.append(nn.Sequential(nn.Conv2d(in_channels, hidden_dim, kernel_size=3, stride=2, padding=1),
                                                nn.GroupNorm(32, hidden_dim)))
                in_channels = hidden_dim
        else:
            input_proj.append(nn.Sequential(nn.Conv2d(backbone.num_channels[0], hidden_dim, kernel_size=1),
                                            nn.GroupNorm(32, hidden_dim)))
        self.input_proj = nn.ModuleList(input_proj)
        self.backbone = backbone
        self.aux_loss = aux_loss
        self.with_box_refine = with_box_refine
        self.use_checkpoint = False

        prior_prob = 0.01
        class_embed.bias.data = torch.ones(num_classes) * -math.log((1 - prior_prob) / prior_prob)
        nn.init.constant_(bbox_embed.layers[-1].weight, 0)
        nn.init.constant_(bbox_embed.layers[-1].bias, 0)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.constant_(proj[0].bias, 0)

        num_pred = transformer.decoder.num_layers
        if with_box_refine:
            self.class_embed = nn.ModuleList([copy.deepcopy(class_embed) for _ in range(num_pred)])
            self.bbox_embed = nn.ModuleList([copy.deepcopy(bbox_embed) for _ in range(num_pred)])
            nn.init.constant_(self.bbox_embed[0].layers[-1].bias.data[2:], -2.0)
            # The decoder refines with these same heads: one module, two names in the state dict.
            self.transformer.decoder.bbox_embed = self.bbox_embed
        else:
            nn.init.constant_(bbox_embed.layers[-1].bias.data[2:], -2.0)
            self.class_embed = nn.ModuleList([class_embed for _ in range(num_pred)])
            self.bbox_embed = nn.ModuleList([bbox_embed for _ in range(num_pred)])
            self.transformer.decoder.bbox_embed = None

    def set_layer_checkpointing(self, enabled: bool) -> None:
        """Recompute every encoder/decoder layer in backward (saves activation memory)."""
        self.transformer.encoder.use_checkpoint = enabled
        self.transformer.decoder.use_checkpoint = enabled

    def forward(self, samples: Any, mask: torch.Tensor | None = None) -> dict[str, Any]:
        """samples: normalised images [B,3,H,W] (or an object with .tensors/.mask). Returns pred_logits [B,Q,C],
        pred_boxes [B,Q,4] (cx,cy,w,h in 0..1), outputs [B,Q,D] (last decoder layer) and aux_outputs."""
        images, mask = split_frames(samples, mask)
        features, pos = self.backbone(images, mask)
        srcs, masks = [], []
        for level, (feat, feat_mask) in enumerate(features):
            srcs.append(self.input_proj[level](feat))
            masks.append(feat_mask)
        for level in range(len(srcs), self.num_feature_levels):
            src = self.input_proj[level](features[-1][0] if level == len(features) else srcs[-1])
            level_mask = _resize_mask(mask, src.shape[-2:])
            srcs.append(src)
            masks.append(level_mask)
            pos.append(self.backbone[1](src, level_mask).to(src.dtype))

        hs, init_reference, inter_references = self.transformer(srcs, masks, pos, self.query_embed.weight)

        outputs_classes, outputs_coords = [], []
        for lvl in range(hs.shape[0]):
            reference = inverse_sigmoid(init_reference if lvl == 0 else inter_references[lvl - 1])
            outputs_class = self.class_embed[lvl](hs[lvl])
            tmp = self.bbox_embed[lvl](hs[lvl])
            if reference.shape[-1] == 4:
                tmp = tmp + reference
            else:
                tmp = torch.cat([tmp[..., :2] + reference, tmp[..., 2:]], dim=-1)
            outputs_classes.append(outputs_class)
            outputs_coords.append(tmp.sigmoid())

        out: dict[str, Any] = {"pred_logits": outputs_classes[-1], "pred_boxes": outputs_coords[-1]}
        if self.aux_loss:
            out["aux_outputs"] = [{"pred_logits": a, "pred_boxes": b}
                                  for a, b in zip(outputs_classes[:-1], outputs_coords[:-1])]
        out["outputs"] = hs[-1]
        return out
