"""state_dict() layout against the official manifests, aliasing, strict loading and load_pretrain."""

from __future__ import annotations

import pytest
import torch

from motip.errors import MotipError
from motip.model import build_model, load_pretrain

from tests.helpers.model import SPEC_DIR, load_spec, official_config, tiny_config


@pytest.fixture(scope="module")
def full_models():
    torch.manual_seed(0)
    return {nc: build_model(official_config(NUM_CLASSES=nc)) for nc in (1, 2)}


@pytest.mark.parametrize("spec_name,num_classes", [("motip_official_state_dict.json", 1),
                                                   ("motip_official_state_dict_2cls.json", 2)])
def test_state_dict_matches_official_manifest(full_models, spec_name, num_classes):
    spec = load_spec(spec_name)
    state = full_models[num_classes].state_dict(keep_vars=True)
    assert list(state) == [e["key"] for e in spec]  # same keys, same order
    for entry in spec:
        tensor = state[entry["key"]]
        assert list(tensor.shape) == entry["shape"], entry["key"]
        assert isinstance(tensor, torch.nn.Parameter) == (entry["kind"] == "parameter"), entry["key"]
        if entry["kind"] == "parameter":
            assert tensor.requires_grad == entry["requires_grad"], entry["key"]
        if entry["alias_of"]:  # one tensor under two names, as in official checkpoints
            assert tensor.data_ptr() == state[entry["alias_of"]].data_ptr(), entry["key"]


def test_detr_pretrain_manifest_is_the_detr_submodule(full_models):
    spec = load_spec("motip_official_detr_pretrain_state_dict.json")
    state = full_models[1].detr.state_dict()
    assert {e["key"]: e["shape"] for e in spec} == {k: list(v.shape) for k, v in state.items()}


def test_official_checkpoint_loads_strictly_and_round_trips(tmp_path):
    torch.manual_seed(0)
    source = build_model(tiny_config(NUM_CLASSES=1))
    path = tmp_path / "motip.pth"
    torch.save({"model": source.state_dict(), "optimizer": None, "scheduler": None, "states": {"epoch": 3}}, path)
    torch.manual_seed(1)
    target = build_model(tiny_config(NUM_CLASSES=1))
    target.load_state_dict(torch.load(path)["model"], strict=True)  # aliased keys included
    report = load_pretrain(target, path, tiny_config(NUM_CLASSES=1), verbose=False)
    assert report.kind == "motip" and not report.fresh and not report.class_head
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_widening_one_class_to_two_keeps_person_row(tmp_path, capsys):
    torch.manual_seed(0)
    source = build_model(tiny_config(NUM_CLASSES=1))
    path = tmp_path / "motip_dancetrack.pth"
    torch.save({"model": source.state_dict()}, path)
    torch.manual_seed(1)
    target = build_model(tiny_config(NUM_CLASSES=2))
    fresh_bias = target.detr.class_embed[0].bias[1].item()
    report = load_pretrain(target, path, tiny_config(NUM_CLASSES=2))
    assert "1 -> 2" in report.class_head and "class head 1 -> 2" in capsys.readouterr().out
    for i in range(len(target.detr.class_embed)):
        assert torch.equal(target.detr.class_embed[i].weight[0], source.detr.class_embed[i].weight[0])
        assert torch.equal(target.detr.class_embed[i].bias[:1], source.detr.class_embed[i].bias)
    assert target.detr.class_embed[0].bias[1].item() == pytest.approx(fresh_bias)  # documented prior init
    assert torch.equal(target.id_decoder.word_to_embed.weight, source.id_decoder.word_to_embed.weight)


def test_detr_only_coco_pretrain_maps_person_and_car(tmp_path):
    torch.manual_seed(0)
    coco = build_model(tiny_config(NUM_CLASSES=91, ONLY_DETR=True))
    path = tmp_path / "coco_detr.pth"
    torch.save({"model": coco.detr.state_dict()}, path)  # DETR-only: no "detr." prefix
    target = build_model(tiny_config(NUM_CLASSES=2))
    before = target.id_decoder.word_to_embed.weight.clone()
    report = load_pretrain(target, path, tiny_config(NUM_CLASSES=2), verbose=False)
    assert report.kind == "detr-only" and set(report.fresh) == {"trajectory_modeling", "id_decoder"}
    w_src, w_dst = coco.detr.class_embed[1].weight, target.detr.class_embed[1].weight
    assert torch.equal(w_dst[0], w_src[1]) and torch.equal(w_dst[1], w_src[3])  # COCO person, COCO car
    assert torch.equal(target.detr.query_embed.weight, coco.detr.query_embed.weight)
    assert torch.equal(target.id_decoder.word_to_embed.weight, before)


def test_checkpoint_with_only_one_alias_name_still_loads(tmp_path):
    source = build_model(tiny_config())
    state = {k: v for k, v in source.state_dict().items()
             if not k.startswith("detr.transformer.decoder.bbox_embed.")
             and not k.startswith("id_decoder.embed_to_word_layers.1.")}
    path = tmp_path / "dedup.pth"
    torch.save(state, path)  # a bare state dict works too
    target = build_model(tiny_config())
    load_pretrain(target, path, tiny_config(), verbose=False)
    assert torch.equal(target.detr.transformer.decoder.bbox_embed[1].layers[2].bias,
                       source.detr.bbox_embed[1].layers[2].bias)


def test_incompatible_checkpoint_names_key_and_shapes(tmp_path):
    source = build_model(tiny_config(NUM_ID_VOCABULARY=20))
    path = tmp_path / "other.pth"
    torch.save({"model": source.state_dict()}, path)
    with pytest.raises(MotipError) as err:
        load_pretrain(build_model(tiny_config(NUM_ID_VOCABULARY=10)), path, tiny_config(), verbose=False)
    text = str(err.value)
    assert "id_decoder.word_to_embed.weight" in text and "(64, 21)" in text and "(64, 11)" in text
    assert str(path) in text

    deeper = build_model(tiny_config(DETR_DEC_LAYERS=3))
    torch.save({"model": deeper.state_dict()}, path)
    with pytest.raises(MotipError, match="has no place in this model"):
        load_pretrain(build_model(tiny_config()), path, tiny_config(), verbose=False)

    path.write_bytes(b"not a checkpoint")
    with pytest.raises(MotipError, match="cannot read checkpoint"):
        load_pretrain(build_model(tiny_config()), path, tiny_config(), verbose=False)


def test_narrowing_class_head_is_refused(tmp_path):
    path = tmp_path / "two.pth"
    torch.save({"model": build_model(tiny_config(NUM_CLASSES=2)).state_dict()}, path)
    with pytest.raises(MotipError, match="2 classes but NUM_CLASSES is 1"):
        load_pretrain(build_model(tiny_config(NUM_CLASSES=1)), path, tiny_config(NUM_CLASSES=1), verbose=False)


def test_spec_files_present():
    assert (SPEC_DIR / "motip_official_state_dict.json").is_file()
