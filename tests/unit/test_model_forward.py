"""Forward/backward of the tiny model, criteria, backbones, checkpointing and mixed precision (CPU)."""

from __future__ import annotations

import pytest
import torch

from motip.errors import ConfigError
from motip.model import build_criterion, build_id_criterion, build_model, inference_dtype
from motip.model.ms_deform_attn import ms_deform_attn_core_pytorch

from tests.helpers.model import synthetic_seq_info, synthetic_targets, tiny_config


def test_detr_output_shapes_and_ranges():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    with torch.no_grad():
        out = model.detr(torch.randn(2, 3, 96, 128))
    assert out["pred_logits"].shape == (2, 12, 2)
    assert out["pred_boxes"].shape == (2, 12, 4)
    assert out["outputs"].shape == (2, 12, 64)
    assert len(out["aux_outputs"]) == 1  # DETR_DEC_LAYERS - 1
    assert 0 <= out["pred_boxes"].min() and out["pred_boxes"].max() <= 1


def test_padding_mask_is_used():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    frames = torch.randn(1, 3, 96, 128)
    mask = torch.zeros(1, 96, 128, dtype=torch.bool)
    mask[:, :, 96:] = True
    with torch.no_grad():
        plain = model.detr(frames)
        padded = model.detr(frames, mask)
    assert not torch.allclose(plain["outputs"], padded["outputs"])  # masks reach the encoder


@pytest.mark.parametrize("backbone", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("levels", [1, 2, 4])
def test_backbones_and_levels_train_step(backbone, levels):
    if backbone == "resnet50" and levels != 4:
        pytest.skip("one R50 case is enough")
    torch.manual_seed(0)
    cfg = tiny_config(BACKBONE=backbone, DETR_NUM_FEATURE_LEVELS=levels)
    model = build_model(cfg).train()
    criterion = build_criterion(cfg)
    out = model.detr(torch.randn(2, 3, 64, 96))
    losses, indices = criterion(out, synthetic_targets(2))
    loss = criterion.weighted_loss(losses)
    loss.backward()
    assert torch.isfinite(loss)
    assert {"loss_ce", "loss_bbox", "loss_giou", "loss_ce_0"} <= set(losses)
    assert model.detr.query_embed.weight.grad is not None
    assert model.detr.backbone[0].body.conv1.weight.grad is None  # stem stays frozen
    assert [len(i) for i, _ in indices] == [len(t["labels"]) for t in synthetic_targets(2)]


def test_criterion_rewards_correct_predictions():
    cfg = tiny_config()
    criterion = build_criterion(cfg)
    targets = synthetic_targets(2)
    perfect = {"pred_logits": torch.full((2, 12, 2), -8.0), "pred_boxes": torch.full((2, 12, 4), 0.5)}
    for f, t in enumerate(targets):
        perfect["pred_boxes"][f, : len(t["boxes"])] = t["boxes"]
        perfect["pred_logits"][f, torch.arange(len(t["labels"])), t["labels"]] = 8.0
    wrong = {"pred_logits": torch.zeros((2, 12, 2)), "pred_boxes": torch.rand((2, 12, 4)) * 0.3 + 0.1}
    good, _ = criterion(perfect, targets)
    bad, _ = criterion(wrong, targets)
    assert good["loss_bbox"] < 1e-6 and good["loss_giou"] < 1e-5 and good["class_error"] == 0
    assert criterion.weighted_loss(good) < criterion.weighted_loss(bad)


def test_id_decoder_train_and_eval_contract():
    torch.manual_seed(0)
    cfg = tiny_config(USE_AUX_LOSS=True)
    model = build_model(cfg)
    info = model.trajectory_modeling(synthetic_seq_info())
    model.train()
    logits, labels, masks = model.id_decoder(info, use_decoder_checkpoint=False)
    assert logits.shape == (2, 2, 4, 3, 11)  # aux loss: both layers stacked on dim 0
    assert labels.shape == masks.shape == (2, 2, 4, 3)
    loss = build_id_criterion(cfg)(logits, labels, masks)
    loss.backward()
    assert model.id_decoder.rel_pos_embeds.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        logits, labels, masks = model.id_decoder(info, use_decoder_checkpoint=False)
    assert logits.shape == (1, 2, 4, 3, 11) and labels is None


def test_checkpointing_gives_identical_gradients():
    torch.manual_seed(0)
    cfg = tiny_config()
    model = build_model(cfg).train()
    frames = torch.randn(2, 3, 64, 96)
    info = synthetic_seq_info()

    def grads(use_ckpt: bool) -> dict[str, torch.Tensor]:
        model.zero_grad()
        model.detr.set_layer_checkpointing(use_ckpt)
        out = model(part="detr", frames=frames, use_checkpoint=use_ckpt)
        seq = model.trajectory_modeling({k: v.clone() for k, v in info.items()})
        logits, labels, masks = model.id_decoder(seq, use_decoder_checkpoint=use_ckpt)
        (out["pred_boxes"].sum() + out["outputs"].square().mean()
         + build_id_criterion(cfg)(logits, labels, masks)).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, ckpt = grads(False), grads(True)
    assert plain.keys() == ckpt.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], ckpt[name], rtol=1e-5, atol=1e-6, msg=name)


def test_memory_efficient_flag_turns_on_layer_checkpointing():
    model = build_model(tiny_config(MEMORY_EFFICIENT=True))
    assert model.detr.transformer.encoder.use_checkpoint and model.detr.transformer.decoder.use_checkpoint


def test_bf16_autocast_and_half_inference():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()
    frames = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref = model.detr(frames)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model.detr(frames)
    assert torch.isfinite(mixed["pred_boxes"].float()).all()
    assert (mixed["pred_boxes"].float() - ref["pred_boxes"]).abs().max() < 0.05
    assert inference_dtype({"INFERENCE_DTYPE": "FP16"}) == torch.float16
    with pytest.raises(ConfigError):
        inference_dtype({"INFERENCE_DTYPE": "FP8"})


def test_deform_attn_core_samples_bilinearly():
    # One level 2x2, one head, one point at the centre of the map -> mean of the four values.
    value = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)
    loc = torch.full((1, 1, 1, 1, 1, 2), 0.5)
    weights = torch.ones(1, 1, 1, 1, 1)
    out = ms_deform_attn_core_pytorch(value, [(2, 2)], loc, weights)
    assert out.item() == pytest.approx(2.5)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ConfigError, match="DETR_HIDDEN_DIM"):
        build_model(tiny_config(DETR_HIDDEN_DIM=48))
    cfg = tiny_config()
    del cfg["NUM_CLASSES"]
    with pytest.raises(ConfigError, match="NUM_CLASSES"):
        build_model(cfg)


def test_backbone_trainability_follows_the_optimiser_rule():
    # LR_BACKBONE (absolute, TRAIN.md) decides, as in the optimiser's backbone group: 0 freezes, > 0 trains.
    def trainable(**overrides) -> int:
        model = build_model({**tiny_config(), **overrides})
        return sum(p.requires_grad for n, p in model.named_parameters() if "backbone.0" in n)

    assert trainable(LR_BACKBONE=0.0, LR_BACKBONE_SCALE=0.1) == 0
    assert trainable(LR_BACKBONE=1e-4, LR_BACKBONE_SCALE=0.0) > 0
    assert trainable(LR_BACKBONE=None, LR_BACKBONE_SCALE=0.1) > 0
