"""Trained multi-level models as self-contained folders in the Hugging Face layout.

An exported folder holds everything needed to rebuild the model without the pipeline's
config, the Hub or the package that shipped the pretrained encoder:

* ``config.json``: the model's :class:`~mlser.models.multilevel.MultiLevelSERConfig` as
  :meth:`~mlser.models.multilevel.MultiLevelSER.standalone_config` writes it (full HuBERT
  and text-encoder architectures, fusion, adapters, error correction, head sizes; the
  config's fields are its top-level keys), ``id2label`` / ``label2id``, the tasks the
  heads were trained on and the correction's beam settings;
* ``model.safetensors``: every weight (the pretrained encoders' included);
* the text encoder's tokenizer files (``tokenizer.json``, ``vocab.txt``, ...);
* ``preprocessor_config.json``: what the model expects as input (16 kHz mono float
  waveform; the model normalises it itself);
* ``label_map.json``: emotion, gender and style labels and the CTC character vocabulary;
* ``README.md``: how to load it.

:func:`export_model` reloads what it wrote and checks that it computes the same outputs
as the source before the folder appears under its name (written atomically).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from mlser.atomic import atomic_path
from mlser.data.labels import GENDERS, STYLES
from mlser.models.multilevel import MultiLevelSER, MultiLevelSERConfig

MODEL_TYPE = "mlser_multilevel"
#: 2: ``acoustic`` and ``text`` are the encoders' configs as they are (#22); 1 (still
#: read): hand-flattened (``model_type``, ``pretrained_source``).
FORMAT_VERSION = 2
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LABEL_MAP_NAME = "label_map.json"
#: The top-level keys of ``config.json`` that are the model's config.
_MODEL_KEYS = tuple(f.name for f in dataclasses.fields(MultiLevelSERConfig))


class ExportError(ValueError):
    """A folder that is not an mlser export, or an export that does not match its source."""


@dataclasses.dataclass
class LoadedModel:
    """A model ready to predict, with what its outputs mean.

    Attributes:
        model: the network, on the CPU, in eval mode.
        classes: emotion labels in the order of the emotion logits.
        tasks: the tasks its heads were trained on ("ser", "asr", "gender", "style").
        source: where it was loaded from.
        correction: ``beam_size`` and ``max_length`` of its ASR error correction's beam
            search, as the pipeline scores it (empty: the defaults).

    The model's adapters, error correction and every size are in ``model.config``.
    """

    model: MultiLevelSER
    classes: tuple[str, ...]
    tasks: tuple[str, ...]
    source: Path
    correction: dict[str, Any] = dataclasses.field(default_factory=dict)


def export_config(
    model: MultiLevelSER,
    classes: tuple[str, ...],
    tasks: tuple[str, ...],
    origin: dict[str, Any],
    correction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``config.json`` of ``model``: everything :func:`load_exported` rebuilds it from.

    Its model part is ``model.standalone_config().to_dict()``, key for key; the rest says
    what the outputs mean, the correction's beam settings, and where the model came from
    (``pretrained_sources``: what the encoders' weights were first loaded from)."""
    sources = {
        part: encoder.config.pretrained_name
        for part, encoder in (("acoustic", model.acoustic), ("text", model.text))
        if encoder is not None
    }
    return {
        "model_type": MODEL_TYPE,
        "architectures": ["MultiLevelSER"],
        "mlser_format": FORMAT_VERSION,
        "id2label": {str(i): c for i, c in enumerate(classes)},
        "label2id": {c: i for i, c in enumerate(classes)},
        "tasks": list(tasks),
        "sampling_rate": 16000,
        **model.standalone_config().to_dict(),
        "correction": correction or {},
        "pretrained_sources": sources,
        "origin": origin,
    }


#: the AEC encoder is the text encoder itself: its weights are saved once, under ``text.``
_SHARED = "error_correction.encoder."


def _format1_parts(config: dict[str, Any]) -> dict[str, Any]:
    """The ``acoustic`` / ``text`` entries of a format-1 ``config.json`` (hand-flattened:
    ``model_type`` beside the architecture, ``pretrained_source``) as format 2 has them."""
    out: dict[str, Any] = {}
    if config.get("acoustic"):
        a = config["acoustic"]
        out["acoustic"] = {
            "pretrained_name": None,
            "hubert": dict(a["hubert"]),
            "frontend": a["frontend"],
            "n_mels": int(a["n_mels"]),
            "normalize_waveform": bool(a["normalize_waveform"]),
        }
    if config.get("text"):
        t = config["text"]
        out["text"] = {
            "pretrained_name": None,
            "model_config": {"model_type": t["model_type"], **t["model_config"]},
            "freeze": bool(t["freeze"]),
            "train_top_layers": int(t.get("train_top_layers", 0)),
            "max_length": int(t["max_length"]),
        }
    return out


def model_from_config(config: dict[str, Any], tokenizer_dir: str | None) -> MultiLevelSER:
    """A randomly initialised :class:`MultiLevelSER` with the architecture of ``config``
    (an export's ``config.json``); its text encoder's tokenizer is in ``tokenizer_dir``."""
    model_part = {k: config[k] for k in _MODEL_KEYS if k in config}
    if config.get("mlser_format", 1) < 2:
        model_part.update(_format1_parts(config))
    model_config = MultiLevelSERConfig.from_dict(model_part)
    if model_config.text is not None:
        model_config.text.tokenizer_name = tokenizer_dir
    return MultiLevelSER(model_config)


def load_exported(directory: str | os.PathLike[str]) -> LoadedModel:
    """Rebuild an exported model from its folder alone (no pipeline config, no network)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise ExportError(f"{directory}: no {CONFIG_NAME}; not an exported mlser model")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{config_path}: not valid JSON ({exc})") from exc
    if config.get("model_type") != MODEL_TYPE:
        raise ExportError(
            f"{config_path}: model_type is {config.get('model_type')!r}, expected {MODEL_TYPE!r}"
        )
    if config.get("mlser_format", 0) > FORMAT_VERSION:
        raise ExportError(
            f"{config_path}: mlser_format {config['mlser_format']} is newer than this "
            f"mlser reads ({FORMAT_VERSION}); upgrade mlser"
        )
    weights = directory / WEIGHTS_NAME
    if not weights.is_file():
        raise ExportError(f"{directory}: {WEIGHTS_NAME} is missing")
    try:
        model = model_from_config(config, str(directory) if config.get("text") else None)
    except KeyError as exc:
        raise ExportError(f"{config_path}: the key {exc} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{config_path}: not a model config this mlser reads ({exc})") from exc
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own SafetensorError on a bad header
        raise ExportError(f"{weights}: unreadable ({exc})") from exc
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ExportError(f"{weights}: does not match {config_path} ({exc})") from exc
    wrong = result.unexpected_keys + [k for k in result.missing_keys if not k.startswith(_SHARED)]
    if wrong:
        raise ExportError(f"{weights}: does not match {config_path} (keys {wrong[:5]})")
    if model.text is not None:
        model.text._tokenizer = _load_tokenizer(directory)
    classes = tuple(config["id2label"][str(i)] for i in range(len(config["id2label"])))
    tasks = tuple(config["tasks"])
    return LoadedModel(
        model.eval(), classes, tasks, directory, dict(config.get("correction") or {})
    )


def _load_tokenizer(directory: Path) -> Any:
    """The tokenizer saved in ``directory``, by the class its tokenizer_config.json names
    (AutoTokenizer would read the folder's config.json, which is not a transformers one)."""
    import transformers

    settings = directory / "tokenizer_config.json"
    name = json.loads(settings.read_text()).get("tokenizer_class") if settings.is_file() else None
    cls = getattr(transformers, name or "", None) or transformers.AutoTokenizer
    return cls.from_pretrained(str(directory))


def load_any(path: str | os.PathLike[str]) -> LoadedModel:
    """An exported folder or a pipeline checkpoint (``model.pt`` of a training stage)."""
    from mlser.training.multilevel import correction_settings, load_model

    path = Path(path)
    if path.is_dir():
        return load_exported(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such model file or exported folder")
    try:
        model, spec = load_model(path)
    except (RuntimeError, KeyError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise ExportError(f"{path}: not a trained mlser model ({exc})") from exc
    tasks = tuple(spec.get("tasks", spec["stage"]["tasks"]))
    classes = tuple(spec["classes"])
    return LoadedModel(model.eval(), classes, tasks, path, correction_settings(spec))


def _probe_input() -> tuple[torch.Tensor, torch.Tensor]:
    """Two deterministic utterances (1.5 s noise, 1 s tone), padded: (2, N), (2,)."""
    g = torch.Generator().manual_seed(0)
    noise = 0.1 * torch.randn(24000, generator=g)
    tone = 0.3 * torch.sin(torch.arange(16000) * (2 * torch.pi * 220 / 16000))
    waves = torch.zeros(2, 24000)
    waves[0], waves[1, :16000] = noise, tone
    return waves, torch.tensor([24000, 16000])


@torch.no_grad()
def _outputs(model: MultiLevelSER) -> dict[str, torch.Tensor]:
    model.eval()
    if model.acoustic is None:
        out = model(texts=["a probe sentence", "another one"])
    else:
        out = model(*_probe_input())
    found = {"emotion": out.emotion_logits}
    for name in ("gender_logits", "style_logits", "ctc_log_probs"):
        if getattr(out, name) is not None:
            found[name] = getattr(out, name)
    found.update({f"gate_{k}": v for k, v in out.gates.items()})
    return found


def check_same_outputs(a: MultiLevelSER, b: MultiLevelSER, where: str) -> None:
    """Raise :class:`ExportError` unless ``a`` and ``b`` compute the same outputs."""
    out_a, out_b = _outputs(a), _outputs(b)
    if out_a.keys() != out_b.keys():
        raise ExportError(f"{where}: outputs differ ({sorted(out_a)} vs {sorted(out_b)})")
    for key, value in out_a.items():
        if not torch.allclose(value, out_b[key], atol=1e-5, rtol=1e-4):
            gap = (value - out_b[key]).abs().max().item()
            raise ExportError(f"{where}: {key} differs from the source model by {gap:.3g}")


_CARD = """# {name}

A multi-level speech emotion recognition model (HuBERT{text} + {fusion} fusion), trained
and exported by mlser. Emotions: {classes}. Tasks its heads were
trained on: {tasks}. Input: 16 kHz mono waveform.

```python
from mlser.inference.export import load_exported
loaded = load_exported("{name}")  # .model, .classes, .tasks
```

or on audio files of any format and rate:

```bash
mlser predict {name} speech.wav other.mp3
```

Origin: {origin}
"""


def export_model(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    origin: dict[str, Any] | None = None,
) -> LoadedModel:
    """Export a pipeline checkpoint or an exported folder to ``out_dir`` (see
    :func:`export_loaded`)."""
    return export_loaded(load_any(source), out_dir, origin)


def export_loaded(
    loaded: LoadedModel,
    out_dir: str | os.PathLike[str],
    origin: dict[str, Any] | None = None,
) -> LoadedModel:
    """Write ``loaded`` as an exported folder; returns the model loaded back from it.

    The folder is written under a temporary name, reloaded, compared with the source on
    fixed probe inputs, and only then renamed to ``out_dir``.
    """
    from safetensors.torch import save_file
    from transformers import Wav2Vec2FeatureExtractor

    from mlser.atomic import write_json

    model = loaded.model
    source = loaded.source
    info = {"source": str(source), **(origin or {})}
    config = export_config(model, loaded.classes, loaded.tasks, info, loaded.correction)
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        write_json(tmp / CONFIG_NAME, config)
        state = {
            k: v.detach().contiguous()
            for k, v in model.state_dict().items()
            if not k.startswith(_SHARED)  # safetensors stores no tensor twice
        }
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        (tmp / WEIGHTS_NAME).chmod(0o644)  # safetensors creates it owner-only
        if model.text is not None:
            model.text.tokenizer.save_pretrained(str(tmp))
        if model.acoustic is not None:
            # the model normalises the waveform itself: the extractor only documents the input
            Wav2Vec2FeatureExtractor(
                feature_size=1,
                sampling_rate=16000,
                padding_value=0.0,
                do_normalize=False,
                return_attention_mask=True,
            ).save_pretrained(str(tmp))
        write_json(
            tmp / LABEL_MAP_NAME,
            {
                "emotion": list(loaded.classes),
                "gender": list(GENDERS),
                "style": list(STYLES),
                "ctc_vocabulary": list(model.tokenizer.vocab),
            },
        )
        (tmp / "README.md").write_text(
            _CARD.format(
                name=out_dir.name,
                text=" + text encoder" if model.text is not None else "",
                fusion=config["fusion"] if model.text and model.acoustic else "no",
                classes=", ".join(loaded.classes),
                tasks=", ".join(loaded.tasks),
                origin=json.dumps(info, sort_keys=True),
            ),
            encoding="utf-8",
        )
        check_same_outputs(model, load_exported(tmp).model, f"export of {source}")
    return load_exported(out_dir)
