"""MOTIP model (CVPR 2025): Deformable DETR + trajectory modeling + ID decoder, official parameter names.

Public API (see docs/model.md):
  build_model(config) -> MOTIP with .detr, .trajectory_modeling, .id_decoder
  load_pretrain(model, path, config) -> LoadReport
  build_criterion(config) -> SetCriterion (DETR losses + Hungarian matcher); build_id_criterion(config)
"""

from motip.model.criterion import (HungarianMatcher, IDCriterion, SetCriterion, build_criterion,
                                   build_id_criterion)
from motip.model.motip import MOTIP, build_model, inference_dtype
from motip.model.pretrain import LoadReport, load_pretrain, read_checkpoint_state

__all__ = ["MOTIP", "build_model", "inference_dtype", "load_pretrain", "read_checkpoint_state", "LoadReport",
           "build_criterion", "build_id_criterion", "SetCriterion", "HungarianMatcher", "IDCriterion"]
