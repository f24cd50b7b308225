"""DETR set criterion (focal class loss, L1 + GIoU box losses, auxiliary layers) with its Hungarian matcher,
and the MOTIP ID criterion. Same maths as the official `SetCriterion`, `HungarianMatcher` and `IDCriterion`.

Targets: one dict per frame, {"boxes": [n,4] float cx,cy,w,h in 0..1, "labels": [n] int64 0-based class}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torchvision.ops import box_convert, generalized_box_iou

from motip.config.settings import loss_settings

Outputs = Mapping[str, Tensor]  # the model's pred_logits / pred_boxes for a batch of frames
Targets = list[dict[str, Tensor]]  # per frame: labels [N], boxes [N,4] (cx, cy, w, h; normalised)
Indices = list[tuple[Tensor, Tensor]]  # per frame: matched (pred_idx, target_idx)


def box_cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, in_fmt="cxcywh", out_fmt="xyxy")


def sigmoid_focal_loss(inputs: torch.Tensor, targets: torch.Tensor, num_boxes: float, alpha: float = 0.25,
                       gamma: float = 2) -> torch.Tensor:
    """RetinaNet focal loss, averaged over queries and summed over images, divided by num_boxes."""
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean(1).sum() / num_boxes


class HungarianMatcher(nn.Module):
    """One-to-one assignment of predictions to targets minimising focal-class + L1 + GIoU cost (scipy)."""

    def __init__(self, cost_class: float = 2.0, cost_bbox: float = 5.0, cost_giou: float = 2.0) -> None:
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("all matcher costs are 0")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    @torch.no_grad()
    def forward(self, outputs: Outputs, targets: Targets) -> Indices:
        """Returns per frame (pred_idx, target_idx) int64 tensors, len = min(queries, targets)."""
        bs, num_queries = outputs["pred_logits"].shape[:2]
        out_prob = outputs["pred_logits"].flatten(0, 1).float().sigmoid()
        out_bbox = outputs["pred_boxes"].flatten(0, 1).float()
        tgt_ids = torch.cat([v["labels"] for v in targets])
        tgt_bbox = torch.cat([v["boxes"] for v in targets]).float()
        alpha, gamma = 0.25, 2.0
        neg_cost_class = (1 - alpha) * (out_prob ** gamma) * (-(1 - out_prob + 1e-8).log())
        pos_cost_class = alpha * ((1 - out_prob) ** gamma) * (-(out_prob + 1e-8).log())
        cost_class = pos_cost_class[:, tgt_ids] - neg_cost_class[:, tgt_ids]
        cost_bbox = torch.cdist(out_bbox, tgt_bbox, p=1)
        cost_giou = -generalized_box_iou(box_cxcywh_to_xyxy(out_bbox), box_cxcywh_to_xyxy(tgt_bbox))
        cost = self.cost_bbox * cost_bbox + self.cost_class * cost_class + self.cost_giou * cost_giou
        cost = cost.view(bs, num_queries, -1).cpu()
        sizes = [len(v["boxes"]) for v in targets]
        indices = [linear_sum_assignment(c[i]) for i, c in enumerate(cost.split(sizes, -1))]
        return [(torch.as_tensor(i, dtype=torch.int64), torch.as_tensor(j, dtype=torch.int64)) for i, j in indices]


class SetCriterion(nn.Module):
    """DETR losses for every frame of a clip. `forward` returns (loss_dict, indices of the last layer).

    loss_dict keys: loss_ce, loss_bbox, loss_giou, class_error, cardinality_error, and the same with suffix
    _0.._{L-2} for auxiliary decoder layers. Weighted sum: sum(loss_dict[k] * weight_dict[k]).
    """

    def __init__(self, num_classes: int, matcher: HungarianMatcher, weight_dict: dict[str, float],
                 focal_alpha: float = 0.25, batch_len: int = 10) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.focal_alpha = focal_alpha
        self.batch_len = batch_len  # frames per matcher/loss chunk (DETR_CRITERION_BATCH_LEN)

    @staticmethod
    def _src_permutation_idx(indices: Indices) -> tuple[Tensor, Tensor]:
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])
        return batch_idx, src_idx

    def loss_labels(self, outputs: Outputs, targets: Targets, indices: Indices, num_boxes: float,
                    log: bool = True) -> dict[str, Tensor]:
        src_logits = outputs["pred_logits"]
        idx = self._src_permutation_idx(indices)
        idx = (idx[0].to(src_logits.device), idx[1].to(src_logits.device))
        target_classes_o = torch.cat([t["labels"][j] for t, (_, j) in zip(targets, indices)])
        target_classes = torch.full(src_logits.shape[:2], self.num_classes, dtype=torch.int64,
                                    device=src_logits.device)
        target_classes[idx] = target_classes_o
        onehot = torch.zeros([src_logits.shape[0], src_logits.shape[1], src_logits.shape[2] + 1],
                             dtype=src_logits.dtype, device=src_logits.device)
        onehot.scatter_(2, target_classes.unsqueeze(-1), 1)
        onehot = onehot[:, :, :-1]  # "no object" = all zeros
        loss_ce = sigmoid_focal_loss(src_logits, onehot, num_boxes, alpha=self.focal_alpha, gamma=2)
        losses = {"loss_ce": loss_ce * src_logits.shape[1]}
        if log:
            if target_classes_o.numel() == 0:
                losses["class_error"] = torch.zeros((), device=src_logits.device)
            else:
                correct = (src_logits[idx].argmax(-1) == target_classes_o).float().sum()
                losses["class_error"] = 100 - correct * 100.0 / target_classes_o.numel()
        return losses

    @torch.no_grad()
    def loss_cardinality(self, outputs: Outputs, targets: Targets, indices: Indices,
                         num_boxes: float) -> dict[str, Tensor]:
        pred_logits = outputs["pred_logits"]
        tgt_lengths = torch.as_tensor([len(v["labels"]) for v in targets], device=pred_logits.device)
        card_pred = (pred_logits.argmax(-1) != pred_logits.shape[-1] - 1).sum(1)
        return {"cardinality_error": F.l1_loss(card_pred.float(), tgt_lengths.float())}

    def loss_boxes(self, outputs: Outputs, targets: Targets, indices: Indices, num_boxes: float) -> dict[str, Tensor]:
        idx = self._src_permutation_idx(indices)
        boxes = outputs["pred_boxes"]
        src_boxes = boxes[idx[0].to(boxes.device), idx[1].to(boxes.device)]
        target_boxes = torch.cat([t["boxes"][i] for t, (_, i) in zip(targets, indices)], dim=0)
        loss_bbox = F.l1_loss(src_boxes, target_boxes, reduction="none")
        loss_giou = 1 - torch.diag(generalized_box_iou(box_cxcywh_to_xyxy(src_boxes),
                                                       box_cxcywh_to_xyxy(target_boxes)))
        return {"loss_bbox": loss_bbox.sum() / num_boxes, "loss_giou": loss_giou.sum() / num_boxes}

    def _layer_losses(self, outputs: Outputs, targets: Targets, indices: Indices, num_boxes: float,
                      log: bool) -> dict[str, Tensor]:
        """Sum each loss over chunks of batch_len frames (bounds peak memory; same value as one pass)."""
        losses: dict[str, torch.Tensor] = {}
        for start in range(0, len(targets), self.batch_len):
            stop = start + self.batch_len
            chunk = {k: outputs[k][start:stop] for k in ("pred_logits", "pred_boxes")}
            chunk_targets, chunk_indices = targets[start:stop], indices[start:stop]
            parts = {}
            parts.update(self.loss_labels(chunk, chunk_targets, chunk_indices, 1, log=log))
            parts.update(self.loss_boxes(chunk, chunk_targets, chunk_indices, 1))
            parts.update(self.loss_cardinality(chunk, chunk_targets, chunk_indices, 1))
            for k, v in parts.items():
                losses[k] = losses[k] + v if k in losses else v
        for k in ("loss_ce", "loss_bbox", "loss_giou", "class_error"):
            if k in losses:
                losses[k] = losses[k] / num_boxes
        return losses

    def _match(self, outputs: Outputs, targets: Targets) -> Indices:
        indices = []
        for start in range(0, len(targets), self.batch_len):
            chunk = {k: outputs[k][start:start + self.batch_len] for k in ("pred_logits", "pred_boxes")}
            indices += self.matcher(chunk, targets[start:start + self.batch_len])
        return indices

    def forward(self, outputs: Mapping[str, Any], targets: Targets) -> tuple[dict[str, Tensor], Indices]:
        indices = self._match(outputs, targets)
        num_boxes = max(float(sum(len(t["labels"]) for t in targets)), 1.0)
        losses = self._layer_losses(outputs, targets, indices, num_boxes, log=True)
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_indices = self._match(aux, targets)
            layer = self._layer_losses(aux, targets, aux_indices, num_boxes, log=False)
            losses.update({f"{k}_{i}": v for k, v in layer.items()})
        return losses, indices

    def weighted_loss(self, loss_dict: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(loss_dict[k] * w for k, w in self.weight_dict.items() if k in loss_dict)


class IDCriterion(nn.Module):
    """Cross-entropy over the ID vocabulary for every real (unmasked) detection after the first frame."""

    def __init__(self, weight: float, use_focal_loss: bool = False) -> None:
        super().__init__()
        self.weight = weight
        self.use_focal_loss = use_focal_loss

    def forward(self, id_logits: torch.Tensor, id_labels: torch.Tensor, id_masks: torch.Tensor) -> torch.Tensor:
        """id_logits [B,G,T,N,V+1], id_labels [B,G,T,N], id_masks [B,G,T,N] (True = padding)."""
        logits = id_logits[:, :, 1:].reshape(-1, id_logits.shape[-1])  # frame 0 has no history to match
        labels = id_labels[:, :, 1:].reshape(-1)
        keep = ~id_masks[:, :, 1:].reshape(-1)
        logits, labels = logits[keep], labels[keep]
        if self.use_focal_loss:
            onehot = F.one_hot(labels, logits.shape[-1]).to(logits.dtype)
            prob = logits.sigmoid()
            ce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
            p_t = prob * onehot + (1 - prob) * (1 - onehot)
            loss = (0.25 * onehot + 0.75 * (1 - onehot)) * ce * ((1 - p_t) ** 2)
            loss = loss.mean(1).sum()
        else:
            loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        return loss / max(float(len(logits)), 1.0)


def build_criterion(config: Mapping[str, Any]) -> SetCriterion:
    """DETR criterion + matcher from the official config keys (DETR_*_LOSS_COEF, DETR_SET_COST_*...; read as
    ``motip.config.LossSettings``)."""
    settings = loss_settings(config)
    matcher = HungarianMatcher(cost_class=settings.cost_class, cost_bbox=settings.cost_bbox,
                               cost_giou=settings.cost_giou)
    weight_dict = {"loss_ce": settings.cls_loss_coef, "loss_bbox": settings.bbox_loss_coef,
                   "loss_giou": settings.giou_loss_coef}
    if settings.aux_loss:
        base = dict(weight_dict)
        for i in range(settings.dec_layers - 1):
            weight_dict.update({f"{k}_{i}": v for k, v in base.items()})
    return SetCriterion(settings.num_classes, matcher, weight_dict, focal_alpha=settings.focal_alpha,
                        batch_len=settings.criterion_batch_len)


def build_id_criterion(config: Mapping[str, Any]) -> IDCriterion:
    settings = loss_settings(config)
    return IDCriterion(weight=settings.id_loss_weight, use_focal_loss=settings.id_focal_loss)
