"""The papers' models at their real sizes from config/architectures (#23's rehearsal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
import yaml

from mlser import architectures
from mlser.pretrained import (
    PretrainedError,
    fetch_pretrained,
    folder_name,
    pretrained_sources,
    verify_folder,
)

REPO = Path(__file__).resolve().parents[1]
FACTS = REPO / "config" / "architectures"


def _meta_model(folder: Path) -> torch.nn.Module:
    config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    with torch.device("meta"):
        return getattr(transformers, config.architectures[0])(config)


@pytest.mark.parametrize("folder", sorted(p for p in FACTS.iterdir() if p.is_dir()), ids=str)
def test_facts_build_the_published_size(folder: Path) -> None:
    side = json.loads((folder / "mlser.json").read_text())
    n = sum(p.numel() for p in _meta_model(folder).parameters())
    if side["published_parameters"] is None:
        assert side["parameters_source"]  # says why there is no count
    else:
        # papers round to the million: 317 M, 95 M, 110 M
        assert abs(n - side["published_parameters"]) / side["published_parameters"] < 0.02, n


def test_every_hub_model_of_the_paper_config_has_facts() -> None:
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    sources = {e["source"] for e in pretrained_sources(config).values()}
    assert sources, "paper.yaml names no pretrained model"
    for source in sources:
        architectures.facts_folder(FACTS, architectures.PREFIX + source)


def test_missing_facts_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(architectures.ArchitectureError, match=r"owner--model/config\.json"):
        architectures.materialise("architecture:owner/model", tmp_path, tmp_path / "out")
    with pytest.raises(architectures.ArchitectureError, match="is not"):
        architectures.hub_id_of("facebook/hubert-large-ll60k")


def test_bert_base_is_built_at_full_size_and_loads_offline(tmp_path: Path) -> None:
    dest = tmp_path / "architecture--bert-base-uncased"
    record = architectures.materialise("architecture:bert-base-uncased", FACTS, dest)
    assert record["weights"] == "random" and record["model_class"] == "BertForMaskedLM"
    assert set(record["architecture_facts"]) == {"config.json", "mlser.json"}
    model = transformers.AutoModel.from_pretrained(str(dest), local_files_only=True)
    assert (model.config.hidden_size, model.config.num_hidden_layers) == (768, 12)
    assert 108e6 < sum(p.numel() for p in model.parameters()) < 111e6
    # the tokenizer is bert-base-uncased's WordPiece: [CLS] = 101, "the" = 1996
    tok = transformers.AutoTokenizer.from_pretrained(str(dest), local_files_only=True)
    assert tok("the")["input_ids"] == [101, 1996, 102]
    assert tok.vocab_size == model.config.vocab_size == 30522


def _tiny_facts(root: Path, layers: int) -> Path:
    folder = root / "owner--tiny-bert"
    folder.mkdir(parents=True, exist_ok=True)
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32}
    config |= {"num_hidden_layers": layers, "num_attention_heads": 2, "intermediate_size": 64}
    (folder / "config.json").write_text(json.dumps({**config, "vocab_size": 100}))
    return root


def test_fetch_builds_once_and_again_when_the_facts_change(tmp_path: Path) -> None:
    facts = _tiny_facts(tmp_path / "facts", layers=1)
    out = tmp_path / "pretrained" / folder_name("architecture:owner/tiny-bert")
    assert out.name == "architecture--owner--tiny-bert"  # never a downloaded model's folder
    said: list[str] = []
    first = fetch_pretrained(
        "architecture:owner/tiny-bert", out, log=said.append, architectures=facts
    )
    assert first["weights"] == "random" and first["kind"] == "architecture"
    assert "RANDOM weights" in said[0]
    assert verify_folder(out)["files"]["model.safetensors"]["size"] > 0
    fetch_pretrained("architecture:owner/tiny-bert", out, log=said.append, architectures=facts)
    assert "already fetched" in said[-1]
    _tiny_facts(facts, layers=2)  # the facts changed: the folder is rebuilt from them
    said.clear()
    fetch_pretrained("architecture:owner/tiny-bert", out, log=said.append, architectures=facts)
    assert any("RANDOM weights" in line for line in said), said
    assert transformers.AutoConfig.from_pretrained(str(out)).num_hidden_layers == 2


def test_fetch_of_an_architecture_without_facts_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        PretrainedError, match=r"models\.text\.bert_base\.pretrained.*no architecture facts"
    ):
        fetch_pretrained(
            "architecture:owner/none",
            tmp_path / "out",
            keys=["models.text.bert_base.pretrained"],
            architectures=tmp_path,
        )


def test_provenance_names_each_pretrained_model_the_job_loaded(tmp_path: Path) -> None:
    from mlser.provenance import provenance

    facts = _tiny_facts(tmp_path / "facts", layers=1)
    out = tmp_path / "pretrained" / "architecture--owner--tiny-bert"
    fetch_pretrained("architecture:owner/tiny-bert", out, log=lambda _: None, architectures=facts)
    models = {"text": {"bert_base": {"pretrained": str(out)}}, "fusion": {"d_model": 8}}
    entry = provenance(models)["pretrained"]["architecture--owner--tiny-bert"]
    assert entry["weights"] == "random" and entry["source"] == "architecture:owner/tiny-bert"
    assert entry["sha256"]["model.safetensors"] == architectures.sha256_of(
        out / "model.safetensors"
    )
    assert "pretrained" not in provenance()  # a job that loads no pretrained model
