import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.utils import validate

from mlser.config_checks import ConfigError, check_corpora, meld_paths, neural_device
from mlser.experiments import (
    ExperimentError,
    embeds_label_words,
    load_matrix,
    model_owner,
    select,
    stage1_key,
    unsupported_reason,
)
from mlser.data.folds import scheme_fold_names

validate(config, schema="../../config/schema.yaml")

try:
    check_corpora(config["corpora"])
except ConfigError as err:
    raise WorkflowError(str(err)) from None

# SHA-256 of the resolved config (defaults filled in by the schema), stated in each
# corpus's protocol passport; library code never reads the config itself.
CONFIG_DIGEST = hashlib.sha256(
    json.dumps(config, sort_keys=True, default=str).encode()
).hexdigest()


# The rules' conda env (envs/mlser.yaml) installs this checkout, editable, from
# ${MLSER_ROOT}: conda creates it in a subprocess of this one, which inherits this.
# (A setting, not a variable the user must define: hence no `envvars:`.)
os.environ.update(MLSER_ROOT=workflow.basedir)

# Every rule runs one `python -m mlser <step>`; PYTHONPATH lets that work in any
# environment that has the dependencies (e.g. a rule's conda env on a cluster).
MLSER = (
    f"PYTHONPATH={workflow.basedir}/src${{PYTHONPATH:+:$PYTHONPATH}} python -m mlser"
)
DEMO_CORPORA = "results/demo_corpora"


# Every neural rule: `threads: NEURAL_THREADS`, `resources: gpu=NEURAL_GPU` and
# `--device {params.device}`. On a CPU run they hold no GPU, so `--cores` alone sets
# how many run at a time (the README's `--resources gpu=1` then limits nothing).
NEURAL_DEVICE = neural_device(config["compute"]["device"])
NEURAL_THREADS = config["compute"]["threads"][NEURAL_DEVICE]
NEURAL_GPU = 1 if NEURAL_DEVICE == "cuda" else 0

# Priorities: 2 on what every training waits for (corpora, the acoustic pretraining),
# 1 on the short chains (the hierarchical and LE-MER families): they start as soon as
# they can, beside the first trainings, and the wide pool of multi-level trainings fills
# the cores at the end. In DAG order the short chains came last and ran nearly one job
# at a time (default demo, 2 cores: the last 3.5 of 23 minutes).

CORPORA = [name for name, c in config["corpora"].items() if c.get("enabled", True)]


wildcard_constraints:
    corpus="|".join(CORPORA) or "none",
    fold=r"[A-Za-z0-9_]+",
    key=r"[0-9a-f]{12}",


def corpus_root(wildcards):
    """The release tree a corpus is read from: generated, or the user's copy."""
    cfg = config["corpora"][wildcards.corpus]
    if cfg.get("synthesize") is not None:
        return f"{DEMO_CORPORA}/{wildcards.corpus}"
    return cfg["root"]


def synthesize_spec(wildcards):
    return json.dumps(config["corpora"][wildcards.corpus]["synthesize"], sort_keys=True)


def prepare_options(wildcards):
    """Extra `mlser prepare` flags: MELD's per-path overrides."""
    cfg = config["corpora"][wildcards.corpus]
    if wildcards.corpus != "meld" or cfg.get("synthesize") is not None:
        return ""
    paths = meld_paths(cfg["root"], cfg.get("paths"))
    return " ".join(
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in paths.items()
    )


def fold_schemes(wildcards):
    return " ".join(config["corpora"][wildcards.corpus]["folds"])


# ---------------------------------------------------------------- experiment matrix


def _matrix_dir():
    """The matrix folder: as given if it exists (relative to the working directory),
    else inside the workflow (so that `snakemake -d elsewhere` finds the bundled one).
    """
    given = Path(config["experiments"]["matrix"])
    return given if given.is_dir() else Path(workflow.basedir) / given


MATRIX_DIR = _matrix_dir()


def _selected_experiments():
    cfg = config["experiments"]
    try:
        matrix = load_matrix(MATRIX_DIR)
        ids = select(matrix, cfg["select"], tuple(cfg["families"]), tuple(CORPORA))
    except ExperimentError as err:
        raise WorkflowError(str(err)) from None
    blocked = {i: unsupported_reason(matrix[i]) for i in ids}
    blocked = {i: why for i, why in blocked.items() if why}
    if blocked and isinstance(cfg["select"], list):
        raise WorkflowError(
            "experiments.select names rows this pipeline cannot run yet: "
            + "; ".join(f"{i}: {why}" for i, why in blocked.items())
        )
    if blocked:  # 'all' / 'headline': run the rest, and say which rows are left out
        by_reason = {}
        for i, why in blocked.items():
            by_reason.setdefault(why, []).append(i)
        for why, rows in by_reason.items():
            print(f"mlser: not run yet ({why}): {', '.join(rows)}", file=sys.stderr)
        ids = [i for i in ids if i not in blocked]
    for i in ids:
        e = matrix[i]
        if e["split"] not in config["corpora"][e["corpus"]]["folds"]:
            raise WorkflowError(
                f"experiment {i} needs the {e['split']!r} folds of {e['corpus']}; add it to "
                f"`corpora.{e['corpus']}.folds`"
            )
    return matrix, ids


MATRIX, EXPERIMENTS = _selected_experiments()


def _check_folds():
    """`experiments.folds` naming a fold no selected row has would select nothing."""
    from mlser.config_checks import check_folds

    if EXPERIMENTS:
        try:
            check_folds(
                config["experiments"]["folds"],
                {MATRIX[i]["split"] for i in EXPERIMENTS},
            )
        except ConfigError as err:
            raise WorkflowError(str(err)) from None


_check_folds()
# every experiment whose model some selected experiment is scored with, or starts from
_needed = []
# (a score fusion row trains nothing: the rows it `combines` are what it needs)
_queue = [
    model_owner(MATRIX[j], MATRIX)
    for i in EXPERIMENTS
    for j in (MATRIX[i].get("combines") or [i])
]
while _queue:
    _i = _queue.pop()
    if _i not in _needed:
        _needed.append(_i)
        if MATRIX[_i].get("init_from"):
            _queue.append(model_owner(MATRIX[MATRIX[_i]["init_from"]], MATRIX))
TRAINED = sorted(_needed)
STAGE1 = {}  # key -> the experiment that stands for it
for _i in TRAINED:
    STAGE1.setdefault(stage1_key(MATRIX[_i]), _i)


# ---------------------------------------------------------------- pretrained weights
# Every pretrained model the config names is fetched once, by the local rule
# `fetch_pretrained` (pretrained.smk), into resources/pretrained/<folder>/ at the pinned
# revision (mlser.pretrained); the jobs get that folder in their `models` JSON, list it
# as an input and load it offline.
from mlser.pretrained import PretrainedError, pretrained_sources

PRETRAINED_DIR = "resources/pretrained"
try:
    PRETRAINED = pretrained_sources(config)
except PretrainedError as err:
    raise WorkflowError(str(err)) from None
PRETRAINED_FOLDERS = {
    p["source"]: f"{PRETRAINED_DIR}/{name}" for name, p in PRETRAINED.items()
}


def fetch_flags(wildcards):
    """`mlser fetch-pretrained` flags of one folder: its revision and config keys."""
    p = PRETRAINED[wildcards.pretrained]
    flags = [f"--revision {shlex.quote(p['revision'])}"] if p["revision"] else []
    flags += [
        f"--key {k} --revision-key {r}" for k, r in zip(p["keys"], p["revision_keys"])
    ]
    return " ".join(flags)


def local_pretrained(source):
    """The fetched folder of a `pretrained` (or `quantizer`) value."""
    return PRETRAINED_FOLDERS.get(source, source)


def local_spec(spec):
    """A `models.<kind>.<name>` entry as a job gets it: `pretrained` the fetched folder,
    no `revision` (the folder's .mlser_fetch.json records it)."""
    out = {k: v for k, v in spec.items() if k != "revision"}
    if out.get("pretrained"):
        out["pretrained"] = local_pretrained(out["pretrained"])
    return out


def local_models(models):
    """A `models` section with every encoder spec made local (`local_spec`)."""
    out = dict(models)
    for kind in ("acoustic", "text"):
        if kind in out:
            out[kind] = {name: local_spec(spec) for name, spec in out[kind].items()}
    return out


def get_pretrained_inputs(models):
    """The fetched folders the encoder specs of a `models` section load."""
    folders = set(PRETRAINED_FOLDERS.values())
    found = {
        local_pretrained(spec["pretrained"])
        for kind in ("acoustic", "text")
        for spec in (models.get(kind) or {}).values()
        if spec.get("pretrained")
    }
    return sorted(found & folders)


def pretrained_for(*exp_ids):
    """The fetched folders a job that builds (or loads) the models of rows ``exp_ids``
    needs: their encoders' and those of the models they start from."""
    rows, queue = [], list(exp_ids)
    while queue:
        i = queue.pop()
        if i not in rows:
            rows.append(i)
            queue.append(model_owner(MATRIX[i], MATRIX))
            if MATRIX[i].get("init_from"):
                queue.append(model_owner(MATRIX[MATRIX[i]["init_from"]], MATRIX))
    return get_pretrained_inputs(models_for(*rows)) if rows else []


def quantizer_input(wildcards=None):
    """The fetched quantizer checkpoint `codebook_frames` reads (method
    wav2vec2_quantizer), or nothing."""
    speech = (config.get("label_embeddings") or {}).get("speech") or {}
    if speech.get("method") == "wav2vec2_quantizer" and speech.get("quantizer"):
        return [local_pretrained(speech["quantizer"])]
    return []


# The parts of `models` every network of a family shares (sizes of the fusion, adapters,
# AEC decoder, contrastive loss); encoders are passed only where a row names them.
SHARED_MODEL_PARTS = ("fusion", "adapter", "error_correction", "contrastive")


def models_for(*exp_ids):
    """The `models` entries the rows ``exp_ids`` use, so that a job's params (and so its
    reruns) change only with the settings of the encoders it builds."""
    used = {"acoustic": set(), "text": set()}
    for exp_id in exp_ids:
        m = MATRIX[exp_id]["model"]
        for stage in (m.get("stage1") or {}, m.get("stage2") or {}):
            for kind, key in (
                ("acoustic", "acoustic_encoder"),
                ("text", "text_encoder"),
            ):
                if stage.get(key):
                    used[kind].add(stage[key])
            if embeds_label_words(stage) and not stage.get("text_encoder"):
                # a speech row whose label embeddings start from BERT word embeddings
                used["text"].update(config["models"].get("text", {}))
    models = config["models"]
    out = {k: models[k] for k in SHARED_MODEL_PARTS if k in models}
    for kind, names in used.items():
        table = models.get(kind, {})
        if names:
            out[kind] = {n: table[n] for n in sorted(names) if n in table}
    return local_models(out)


def _scoring(exp_id, fold="{fold}"):
    """The model file (of ``fold``; left open by default) and the test-time text a row
    is scored with."""
    e = MATRIX[exp_id]
    model = final_model(model_owner(e, MATRIX), fold)
    return model, e["model"].get("text_source_test") or "none"


def experiment_folds(exp_id):
    names = scheme_fold_names(MATRIX[exp_id]["split"])
    wanted = config["experiments"]["folds"]
    # a family's own fold choice (e.g. the demo's LE-MER rows on one fold) wins
    family = MATRIX[exp_id]["model"]["family"]
    wanted = config["experiments"].get("family_folds", {}).get(family, wanted)
    return [f for f in names if wanted is None or f in wanted]


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _row(exp_id):
    """The parts of a matrix row the training step reads."""
    e = MATRIX[exp_id]
    return {"id": e["id"], "model": e["model"]}


def final_model(exp_id, fold):
    """The trained model an experiment's own training ends with."""
    e = MATRIX[exp_id]
    if e["model"].get("stage2"):
        return f"results/{e['corpus']}/stage2/{exp_id}/{fold}/model.pt"
    return f"results/{e['corpus']}/stage1/{stage1_key(e)}/{fold}/model.pt"


# Selected rows scored by the same model with the same test-time text have the same
# predictions: the first such row (in id order) names the scoring, the others share it.
PREDICTIONS_OF = {}
for _i in sorted(EXPERIMENTS):
    if MATRIX[_i]["model"]["family"] == "multilevel":
        PREDICTIONS_OF.setdefault(_scoring(_i), _i)
PREDICTIONS_OF = {
    _i: PREDICTIONS_OF[_scoring(_i)]
    for _i in EXPERIMENTS
    if MATRIX[_i]["model"]["family"] == "multilevel"
}


def fold_scorings(corpus, fold):
    """What `evaluate_multilevel` scores on one test fold, in one process: each distinct
    (model, test-time text) of the selected multi-level rows that have this fold."""
    return [
        dict(zip(("id", "model", "text_source"), (i, *_scoring(i, fold))))
        for i in sorted(set(PREDICTIONS_OF.values()))
        if MATRIX[i]["corpus"] == corpus and fold in experiment_folds(i)
    ]


def stage2_init(wildcards):
    e = MATRIX[wildcards.experiment]
    start = model_owner(MATRIX[e["init_from"]], MATRIX) if e.get("init_from") else None
    if start is not None:
        return final_model(start, wildcards.fold)
    return f"results/{e['corpus']}/stage1/{stage1_key(e)}/{wildcards.fold}/model.pt"


_STAGE2_MODEL = re.compile(
    r"results/(?P<corpus>[^/]+)/(?P<family>lemer/)?stage2/"
    r"(?P<experiment>[^/]+)/(?P<fold>[^/]+)/model\.pt"
)


def model_bases(*paths):
    """The model files that models ``paths`` take their frozen weights from
    (`mlser.training.model_files`): a stage-2 model's starting model, and that one's own. Jobs that
    load a model list them as inputs, so the weights are there wherever the job runs."""
    bases = []
    for path in paths:
        m = _STAGE2_MODEL.fullmatch(str(path))
        if m is None:
            continue
        w = SimpleNamespace(**m.groupdict())
        init = _stage2_init(w) if m["family"] else stage2_init(w)
        bases += [init, *model_bases(init)]
    return list(dict.fromkeys(bases))


def get_training(corpus, *path):
    """The training block ``training.<path...>`` with the corpus's selection metric
    (``corpora.<corpus>.select_metric``; a row's stage block may override it)."""
    block = config.get("training", {})
    for key in path:
        block = block.get(key, {})
    return {**block, "select_metric": config["corpora"][corpus]["select_metric"]}


def run_hash(*parts):
    """Names a checkpoint folder by everything that shapes the run, so that a resumed
    job never continues a run made with other settings."""
    return hashlib.sha1(_json(parts).encode()).hexdigest()[:10]


def family_ids(family, ids=None):
    """The experiments of one family among ``ids`` (default: every row of the matrix)."""
    return [
        i
        for i in (MATRIX if ids is None else ids)
        if MATRIX[i]["model"]["family"] == family
    ]


def ids_regex(family):
    """A wildcard constraint matching exactly the experiment ids of one family, so that
    each family's rules claim only their own rows' outputs."""
    return "|".join(re.escape(i) for i in family_ids(family)) or "^$"


def reads_text(exp_id):
    """Whether a row's model reads text: its inputs include text, it is scored with a
    test-time text, or a stage has a text encoder (the hierarchy's text model). Its
    metrics then also score the test utterances whose transcript is unseen in training
    (#24)."""
    m = MATRIX[exp_id]["model"]
    stages = [m.get(k) or {} for k in ("stage1", "stage2")]
    return (
        "text" in (m.get("inputs") or [])
        or (m.get("text_source_test") or "none") != "none"
        or any(s.get("text_encoder") for s in stages)
    )


def unseen_text_list(corpus):
    """The corpus's test utterances whose transcript is unseen (rule `unseen_text`)."""
    return f"results/{corpus}/unseen_text.tsv"


def unseen_text_input(wildcards):
    """A scoring job's unseen-text list where its row reads text, else nothing."""
    return (
        unseen_text_list(wildcards.corpus) if reads_text(wildcards.experiment) else []
    )


def unseen_text_flag(wildcards, input):
    return f"--unseen-text {input.unseen_text}" if input.unseen_text else ""


def experiment_targets(family=None):
    targets = []
    for exp_id in EXPERIMENTS if family is None else family_ids(family, EXPERIMENTS):
        corpus = MATRIX[exp_id]["corpus"]
        for fold in experiment_folds(exp_id):
            targets.append(f"results/{corpus}/experiments/{exp_id}/{fold}/metrics.json")
    return targets


# Each rules file appends a function that returns its final targets; `rule all`
# asks them after every file is included.
TARGET_SOURCES = []


def all_targets(wildcards=None):
    targets = []
    for corpus in CORPORA:
        targets += [
            f"results/{corpus}/manifest.tsv",
            f"results/{corpus}/rejects.tsv",
            f"results/{corpus}/folds.tsv",
            f"results/{corpus}/tables/corpus_counts.csv",
            f"results/{corpus}/passport.json",
            f"results/{corpus}/unseen_text.tsv",
        ]
    for source in TARGET_SOURCES:
        targets += source()
    return targets
