"""Check that motip.model computes the same function as the official MOTIP code (CPU, float32).

Usage:
    git clone https://github.com/MCG-NJU/MOTIP /tmp/official   # (commit 5cfbcd4 when this was written)
    pip install --target /tmp/pydeps einops          # the official code needs einops
    .venv/bin/python bench/compare_official.py /tmp/official --extra-path /tmp/pydeps [--small]

The official tree is imported in-process, never copied into this repository. Two things are swapped in
memory so it runs on a CPU box without its build step or network:
  * its compiled `MultiScaleDeformableAttention` op -> its own pure-PyTorch `ms_deform_attn_core_pytorch`;
  * `accelerate` (only used for the distributed state) -> a single-process stub when not installed, with
    is_main_process False so the backbone is built with weights=None (no ImageNet download).
Both models are built from the same config; the official random state dict is loaded strictly into ours; then
DETR outputs (logits, boxes, decoder embeddings, aux layers), padded-frame handling, gradients, the trajectory
modeling + ID decoder logits (train and eval), the matcher, and the DETR/ID losses are compared.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch
import yaml


def install_stubs() -> None:
    """Stand-ins for the compiled op and (if absent) accelerate; the real maths stays the official code's."""
    sys.modules.setdefault("MultiScaleDeformableAttention", types.ModuleType("MultiScaleDeformableAttention"))
    try:
        import accelerate  # noqa: F401 - only whether it imports
    except ImportError:
        stub = types.ModuleType("accelerate")

        class DistributedType:
            NO = "NO"

        class PartialState:
            distributed_type = DistributedType.NO
            is_main_process = False  # -> backbone built with weights=None
            num_processes = 1
            process_index = 0
            device = torch.device("cpu")

        stub.DistributedType = DistributedType
        stub.PartialState = PartialState
        sys.modules["accelerate"] = stub


def official_config(tree: Path, small: bool) -> dict:
    cfg = yaml.safe_load((tree / "configs/r50_deformable_detr_motip_dancetrack.yaml").read_text())
    cfg["DEVICE"] = "cpu"
    if small:  # faster run; same code paths
        cfg.update(DETR_ENC_LAYERS=2, DETR_DEC_LAYERS=3, DETR_NUM_QUERIES=50, NUM_ID_DECODER_LAYERS=3)
    return cfg


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.detach().float() - b.detach().float()).abs().max().item()


def make_seq_info(cfg: dict, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    b, g, t, n = 1, 2, 6, 5
    dim, vocab = cfg["FEATURE_DIM"], cfg["NUM_ID_VOCABULARY"]
    masks = torch.rand((b, g, t, n), generator=gen) < 0.25
    labels = torch.randint(0, vocab, (b, g, 1, n), generator=gen).expand(b, g, t, n).clone()
    times = torch.arange(t).view(1, 1, t, 1).expand(b, g, t, n).clone()
    unknown_labels = labels.clone()
    unknown_labels[..., -1] = vocab
    return {
        "trajectory_features": torch.randn((b, g, t, n, dim), generator=gen),
        "trajectory_id_labels": labels, "trajectory_times": times.clone(), "trajectory_masks": masks.clone(),
        "unknown_features": torch.randn((b, g, t, n, dim), generator=gen),
        "unknown_id_labels": unknown_labels, "unknown_times": times.clone(), "unknown_masks": masks.clone(),
    }


def clone_info(info: dict) -> dict:
    return {k: v.clone() for k, v in info.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("official_tree", type=Path, help="work tree of MCG-NJU/MOTIP (git archive of the mirror)")
    parser.add_argument("--extra-path", action="append", default=[], help="extra sys.path entry (e.g. for einops)")
    parser.add_argument("--small", action="store_true", help="fewer layers/queries (faster)")
    parser.add_argument("--size", type=int, nargs=2, default=[256, 352], metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.use_deterministic_algorithms(False)
    for p in args.extra_path:
        sys.path.insert(0, p)
    sys.path.insert(0, str(args.official_tree.resolve()))
    install_stubs()
    from models.ops.functions.ms_deform_attn_func import ms_deform_attn_core_pytorch
    from models.ops.modules import ms_deform_attn as official_msda
    official_msda.MSDeformAttnFunction = types.SimpleNamespace(
        apply=lambda value, shapes, start, loc, attn, step: ms_deform_attn_core_pytorch(value, shapes, loc, attn))
    from models.motip import build as official_build
    from models.motip.id_criterion import build as official_id_criterion
    from utils.nested_tensor import NestedTensor

    from motip.model import build_criterion, build_id_criterion, build_model

    cfg = official_config(args.official_tree, args.small)
    results: list[tuple[str, float]] = []
    for num_classes in (1, 2):
        cfg["NUM_CLASSES"] = num_classes
        torch.manual_seed(args.seed)
        official, official_criterion = official_build(cfg)
        ours = build_model(cfg)
        # The official init zeroes several weights (sampling offsets, attention weights, box-head last layer,
        # rel-PE), which would hide differences: add noise to every tensor (aliases are shared, so once each).
        gen = torch.Generator().manual_seed(args.seed + 1)
        with torch.no_grad():
            for k, v in official.state_dict(keep_vars=True).items():
                if "running_var" in k:
                    v.copy_(torch.rand(v.shape, generator=gen) + 0.5)
                elif "running_mean" in k:
                    v.copy_(torch.randn(v.shape, generator=gen) * 0.1)
        with torch.no_grad():
            for _, p in official.named_parameters():  # deduplicated: aliased tensors get noise once
                p.add_(torch.randn(p.shape, generator=gen) * 0.02)
        ours.load_state_dict(official.state_dict(), strict=True)
        official.eval()
        ours.eval()

        h, w = args.size
        frames = torch.randn((2, 3, h, w), generator=gen)
        mask = torch.zeros((2, h, w), dtype=torch.bool)
        mask[1, :, w - 64:] = True  # second frame is right-padded
        mask[1, h - 32:, :] = True
        frames[1][:, mask[1]] = 0.0
        with torch.no_grad():
            ref = official.detr(NestedTensor(frames, mask))
            out = ours.detr(frames, mask)
        tag = f"{num_classes}cls"
        results.append((f"{tag} pred_logits", max_diff(ref["pred_logits"], out["pred_logits"])))
        results.append((f"{tag} pred_boxes", max_diff(ref["pred_boxes"], out["pred_boxes"])))
        results.append((f"{tag} outputs (decoder embeddings)", max_diff(ref["outputs"], out["outputs"])))
        results.append((f"{tag} aux_outputs (all layers)", max(
            max(max_diff(a["pred_logits"], b["pred_logits"]), max_diff(a["pred_boxes"], b["pred_boxes"]))
            for a, b in zip(ref["aux_outputs"], out["aux_outputs"]))))

        # Matcher and DETR losses (last layer) on synthetic targets.
        targets = [{"boxes": torch.tensor([[0.3, 0.4, 0.1, 0.2], [0.6, 0.5, 0.2, 0.3]]),
                    "labels": torch.tensor([0, num_classes - 1])},
                   {"boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]]), "labels": torch.tensor([0])}]
        criterion = build_criterion(cfg)
        ref_idx = official_criterion.matcher(ref, targets)
        our_idx = criterion.matcher(out, targets)
        same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ref_idx, our_idx))
        results.append((f"{tag} matcher indices identical (0 = yes)", 0.0 if same else 1.0))
        ref_l = {**official_criterion.loss_labels(ref, targets, ref_idx, 3.0),
                 **official_criterion.loss_boxes(ref, targets, ref_idx, 3.0)}
        our_l, _ = criterion(out, targets)
        for k in ("loss_ce", "loss_bbox", "loss_giou"):
            results.append((f"{tag} {k}", max_diff(ref_l[k], our_l[k])))

        # Gradients of the same scalar through both DETRs (train mode; dropout is 0).
        official.train()
        ours.train()
        weights = torch.randn(ref["outputs"].shape, generator=gen)
        for model in (official, ours):
            model.zero_grad()
            o = model.detr(NestedTensor(frames, mask)) if model is official else model.detr(frames, mask)
            ((o["outputs"] * weights).sum() + o["pred_boxes"].sum() + o["pred_logits"].sum()).backward()
        og = dict(official.named_parameters())
        grad_diff = max(max_diff(og[n].grad, p.grad) / max(og[n].grad.abs().max().item(), 1e-12)
                        for n, p in ours.named_parameters() if p.grad is not None and og[n].grad is not None)
        results.append((f"{tag} DETR param grads (max relative)", grad_diff))

        # Trajectory modeling + ID decoder, eval and train (train returns labels; checkpointing on).
        info = make_seq_info(cfg, args.seed)
        for mode in ("eval", "train"):
            official.train(mode == "train")
            ours.train(mode == "train")
            with torch.no_grad():
                ref_info = official.trajectory_modeling(clone_info(info))
                our_info = ours.trajectory_modeling(clone_info(info))
                results.append((f"{tag} trajectory features ({mode})",
                                max_diff(ref_info["trajectory_features"], our_info["trajectory_features"])))
                ref_logits, _, ref_masks = official.id_decoder(ref_info, use_decoder_checkpoint=False)
                our_logits, our_labels, our_masks = ours.id_decoder(our_info, use_decoder_checkpoint=mode == "train")
            results.append((f"{tag} ID-decoder logits ({mode})", max_diff(ref_logits, our_logits)))
        ref_id_loss = official_id_criterion(cfg)(ref_logits, our_labels, ref_masks)
        our_id_loss = build_id_criterion(cfg)(our_logits, our_labels, our_masks)
        results.append((f"{tag} ID loss", max_diff(ref_id_loss, our_id_loss)))

    width = max(len(name) for name, _ in results)
    print(f"official tree: {args.official_tree}  config: {'small' if args.small else 'full'} "
          f"image {args.size[0]}x{args.size[1]}  torch {torch.__version__}")
    for name, value in results:
        print(f"{name:<{width}}  max abs diff {value:.3e}")
    worst = max(v for _, v in results)
    print(f"worst: {worst:.3e}")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
