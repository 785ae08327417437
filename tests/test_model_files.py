"""Model files leave out the frozen weights their base gives again, and restore them exactly
(or fail, naming the file, when the base changed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from mlser.training.model_files import (
    ModelFileError,
    load_model_file,
    pretrained_state,
    save_model_file,
)


class Toy(nn.Module):
    """``enc`` stands for a ``from_pretrained`` encoder: its weights come from a file;
    ``alias`` shares them (as the AEC decoder shares the text encoder); ``body`` and
    ``head`` are random-init."""

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self.enc = nn.Linear(16, 16)
        self.enc.load_state_dict(torch.load(spec["pretrained"], weights_only=True))
        self.alias = self.enc
        self.body = nn.Linear(16, 16)
        self.head = nn.Linear(16, 2)

    def pretrained_parts(self) -> list[str]:
        return ["enc"]


def _pretrained_file(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    torch.save(nn.Linear(16, 16).state_dict(), path)
    return path


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _train(model: nn.Module, *frozen: nn.Module) -> None:
    """Changes every parameter but those of ``frozen``."""
    for module in frozen:
        module.requires_grad_(False)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.01)


def test_frozen_pretrained_weights_are_left_out_and_restored_exactly(tmp_path) -> None:
    spec = {"pretrained": str(_pretrained_file(tmp_path / "enc.pt", 0))}
    model = Toy(spec)
    pretrained = pretrained_state(model)
    assert set(pretrained) == {"enc.weight", "enc.bias", "alias.weight", "alias.bias"}
    _train(model, model.enc)
    sizes = save_model_file(tmp_path / "m.pt", spec, model, pretrained)
    saved = torch.load(tmp_path / "m.pt", weights_only=False)
    # the alias too: torch.save would otherwise keep the shared storage whole
    assert not any(k.startswith(("enc.", "alias.")) for k in saved["state_dict"])
    assert sizes["left_out_bytes"] == (16 * 16 + 16) * 4
    assert saved["base"]["init"] is None
    loaded, loaded_spec = load_model_file(tmp_path / "m.pt", Toy)
    assert loaded_spec == spec and _same(loaded, model)
    assert loaded.alias is loaded.enc


def test_fine_tuned_pretrained_weights_are_kept(tmp_path) -> None:
    spec = {"pretrained": str(_pretrained_file(tmp_path / "enc.pt", 0))}
    model = Toy(spec)
    pretrained = pretrained_state(model)
    _train(model)
    save_model_file(tmp_path / "m.pt", spec, model, pretrained)
    saved = torch.load(tmp_path / "m.pt", weights_only=False)
    assert "enc.weight" in saved["state_dict"] and "base" not in saved
    assert _same(load_model_file(tmp_path / "m.pt", Toy)[0], model)


def test_a_changed_pretrained_checkpoint_is_an_error_naming_the_file(tmp_path) -> None:
    spec = {"pretrained": str(_pretrained_file(tmp_path / "enc.pt", 0))}
    model = Toy(spec)
    pretrained = pretrained_state(model)
    _train(model, model.enc)
    save_model_file(tmp_path / "m.pt", spec, model, pretrained)
    _pretrained_file(tmp_path / "enc.pt", 1)  # another "revision" under the same name
    with pytest.raises(ModelFileError, match=r"m\.pt: the 4 frozen tensors .*digest differs"):
        load_model_file(tmp_path / "m.pt", Toy)


def _two_stages(root: Path) -> tuple[Toy, Toy]:
    """Stage 1 fine-tunes body + head on the frozen encoder; stage 2 freezes body too."""
    root.mkdir(exist_ok=True)
    spec = {"pretrained": str(_pretrained_file(root / "enc.pt", 0))}
    s1 = Toy(spec)
    pretrained = pretrained_state(s1)
    _train(s1, s1.enc)
    save_model_file(root / "s1" / "model.pt", spec, s1, pretrained)
    s2, _ = load_model_file(root / "s1" / "model.pt", Toy)
    init_state = {k: v.clone() for k, v in s2.state_dict().items()}
    _train(s2, s2.enc, s2.body)
    save_model_file(root / "s2" / "model.pt", spec, s2, {}, root / "s1" / "model.pt", init_state)
    return s1, s2


def test_a_stage_that_started_from_a_model_leaves_out_what_it_kept_frozen(tmp_path) -> None:
    s1, s2 = _two_stages(tmp_path)
    saved = torch.load(tmp_path / "s2" / "model.pt", weights_only=False)
    assert set(saved["state_dict"]) == {"head.weight", "head.bias"}
    assert saved["base"]["init"] == "../s1/model.pt"  # relative: the folder can move
    assert _same(load_model_file(tmp_path / "s2" / "model.pt", Toy)[0], s2)
    assert _same(load_model_file(tmp_path / "s1" / "model.pt", Toy)[0], s1)


def test_the_files_a_model_starts_from_move_with_it_or_are_named_missing(tmp_path) -> None:
    _, s2 = _two_stages(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a" / "s1")
    moved, _ = load_model_file(tmp_path / "b" / "s2" / "model.pt", Toy)
    assert _same(moved, s2)
    with pytest.raises(ModelFileError, match=r"s2/model\.pt: .*s1/model\.pt, which is missing"):
        load_model_file(tmp_path / "a" / "s2" / "model.pt", Toy)


def test_a_stage_1_model_trained_again_is_an_error_for_its_stage_2(tmp_path) -> None:
    _two_stages(tmp_path)
    spec = {"pretrained": str(tmp_path / "enc.pt")}
    again = Toy(spec)
    _train(again, again.enc)
    _train(again, again.enc)  # other weights than the stage 2 started from
    save_model_file(tmp_path / "s1" / "model.pt", spec, again, pretrained_state(again))
    with pytest.raises(ModelFileError, match=r"s2/model\.pt: .*s1/model\.pt and the pretrained"):
        load_model_file(tmp_path / "s2" / "model.pt", Toy)


def test_a_complete_file_of_earlier_versions_still_loads(tmp_path) -> None:
    spec = {"pretrained": str(_pretrained_file(tmp_path / "enc.pt", 0))}
    model = Toy(spec)
    _train(model)
    torch.save({"spec": spec, "state_dict": model.state_dict()}, tmp_path / "old.pt")
    assert _same(load_model_file(tmp_path / "old.pt", Toy)[0], model)
