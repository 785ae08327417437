# What every rules file uses: the validated config, the experiment matrix and what the
# selected rows need, path helpers, and the input functions (get_*) of corpora.smk,
# pretrained.smk and the rules several families share. The rules files hold rules only;
# each family's functions and module-level settings are in common_<family>.smk.

import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from mlser.config_checks import ConfigError, check_corpora, meld_paths, neural_device
from mlser.experiments import (
    ExperimentError,
    embeds_label_words,
    load_matrix,
    model_owner,
    select,
    selects_on_ground_truth,
    stage1_key,
    unsupported_reason,
)
from mlser.data.folds import scheme_fold_names
from mlser.data.runs import run_names, split_run

# `--config seeds=[0,1]` reaches the config as strings ('0', '1'): read them as numbers
if isinstance(config.get("seeds"), list):
    config["seeds"] = [
        int(s) if isinstance(s, str) and s.strip().isdigit() else s
        for s in config["seeds"]
    ]
validate(config, schema="../../config/schema.yaml")

# A relative corpus root that is not under the working directory is taken inside the
# workflow, as the matrix is: `snakemake -d <dir>` runs the rehearsal (its roots are
# tests/fixtures/...) away from the results of a real run.
for _corpus in config["corpora"].values():
    _root = _corpus.get("root")
    if _root and not Path(_root).is_absolute() and not Path(_root).exists():
        if (Path(workflow.basedir) / _root).is_dir():
            _corpus["root"] = str(Path(workflow.basedir) / _root)

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


def alternatives(names):
    """A wildcard constraint matching exactly ``names`` (nothing if there are none)."""
    return "|".join(re.escape(n) for n in names) or "^$"


def corpus_file(output, corpus):
    """One corpus's file of an upstream rule's output pattern, e.g.
    ``corpus_file(rules.make_folds.output.folds, "iemocap")``."""
    return expand(output, corpus=corpus)[0]


def unflagged(output):
    """An upstream rule's output pattern as an input: the plain path, without the flags
    (report, directory) that belong to the rule that writes it."""
    return str(output)


# ---------------------------------------------------------------- corpora.smk


def get_corpus_root(wildcards):
    """The release tree a corpus is read from: generated, or the user's copy."""
    cfg = config["corpora"][wildcards.corpus]
    if cfg.get("synthesize") is not None:
        return f"{DEMO_CORPORA}/{wildcards.corpus}"
    return cfg["root"]


def get_synthesize_spec(wildcards):
    return json.dumps(config["corpora"][wildcards.corpus]["synthesize"], sort_keys=True)


def get_prepare_options(wildcards):
    """Extra `mlser prepare` flags: MELD's per-path overrides."""
    cfg = config["corpora"][wildcards.corpus]
    if wildcards.corpus != "meld" or cfg.get("synthesize") is not None:
        return ""
    paths = meld_paths(cfg["root"], cfg.get("paths"))
    return " ".join(
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in paths.items()
    )


def get_fold_schemes(wildcards):
    return " ".join(config["corpora"][wildcards.corpus]["folds"])


def get_test_peek_flag(wildcards):
    """`--test-peek` where a multi-level stage records per-epoch test scores."""
    stages = config.get("training", {}).get("multilevel", {})
    return "--test-peek" if any(s.get("test_peek") for s in stages.values()) else ""


def get_select_metric(wildcards):
    return config["corpora"][wildcards.corpus]["select_metric"]


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


def get_pretrained_source(wildcards):
    return PRETRAINED[wildcards.pretrained]["source"]


def get_fetch_flags(wildcards):
    """`mlser fetch-pretrained` flags of one folder: its revision and config keys."""
    p = PRETRAINED[wildcards.pretrained]
    flags = [f"--revision {shlex.quote(p['revision'])}"] if p["revision"] else []
    flags += [
        f"--key {k} --revision-key {r}" for k, r in zip(p["keys"], p["revision_keys"])
    ]
    if p["source"].startswith("architecture:"):  # built at its published size (#23)
        facts = Path(workflow.basedir) / "config" / "architectures"
        flags.append(f"--architectures {shlex.quote(str(facts))}")
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


def pretrained_folders(models):
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
    return pretrained_folders(models_for(*rows)) if rows else []


def get_quantizer(wildcards=None):
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


def experiment_folds(exp_id):
    """The runs of row ``exp_id``: each selected fold under each of `seeds`
    (mlser.data.runs; seed 0's run is named as its fold)."""
    names = scheme_fold_names(MATRIX[exp_id]["split"])
    wanted = config["experiments"]["folds"]
    # a family's own fold choice (e.g. the demo's LE-MER rows on one fold) wins
    family = MATRIX[exp_id]["model"]["family"]
    wanted = config["experiments"].get("family_folds", {}).get(family, wanted)
    folds = [f for f in names if wanted is None or f in wanted]
    return run_names(folds, config["seeds"])


def first_seed_runs(exp_id):
    """The runs of row ``exp_id`` under the first seed: one per fold, for figures."""
    return [
        r for r in experiment_folds(exp_id) if split_run(r)[1] == config["seeds"][0]
    ]


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _row(exp_id, stage=1):
    """The parts of a matrix row the training step of ``stage`` reads; a multi-level model
    that no ASR-reading row uses is marked to choose its epoch on the ground truth."""
    e = MATRIX[exp_id]
    row = {"id": e["id"], "model": e["model"]}
    if e["model"]["family"] == "multilevel" and selects_on_ground_truth(
        MATRIX, exp_id, stage
    ):
        row["select_on_ground_truth"] = True
    return row


def selection_parts(exp_id, stage):
    """Checkpoint-hash parts of how a training chooses its epoch: none for most models,
    so their checkpoint folders keep their names; a model chosen on the ground truth never
    resumes a run that chose on its transcripts."""
    return (
        ["select_on_ground_truth"]
        if "select_on_ground_truth" in _row(exp_id, stage)
        else []
    )


def stage1_model(exp_id, fold):
    """The multi-level stage-1 model of a row (rule train_stage1), shared by every row
    with the same stage-1 key."""
    e = MATRIX[exp_id]
    return f"results/{e['corpus']}/stage1/{stage1_key(e)}/{fold}/model.pt"


def final_model(exp_id, fold):
    """The trained model an experiment's own training ends with."""
    e = MATRIX[exp_id]
    if e["model"].get("stage2"):
        return f"results/{e['corpus']}/stage2/{exp_id}/{fold}/model.pt"
    return stage1_model(exp_id, fold)


def stage2_start(exp_id):
    """The row whose trained model a multi-level stage 2 starts from (`init_from`), or
    None: its own stage 1."""
    e = MATRIX[exp_id]
    return model_owner(MATRIX[e["init_from"]], MATRIX) if e.get("init_from") else None


def stage2_init_model(exp_id, fold):
    """The model file a multi-level stage 2 starts from."""
    start = stage2_start(exp_id)
    if start is not None:
        return final_model(start, fold)
    return stage1_model(exp_id, fold)


def model_bases(exp_id, fold):
    """The model files the final multi-level model of row ``exp_id`` takes its frozen
    weights from (`mlser.training.model_files`): a stage-2 model's starting model, and
    that one's own. Jobs that load a model list them as inputs, so the weights are there
    wherever the job runs."""
    if not MATRIX[exp_id]["model"].get("stage2"):
        return []
    start = stage2_start(exp_id)
    deeper = model_bases(start, fold) if start is not None else []
    return list(dict.fromkeys([stage2_init_model(exp_id, fold), *deeper]))


def bases_of(owners, fold, bases=model_bases):
    """The model files the final models of rows ``owners`` take weights from, once each."""
    return list(dict.fromkeys(path for i in owners for path in bases(i, fold)))


def model_output(path):
    """A trained model file: temp() in a rehearsal with `temp_models`, so that each is
    deleted once every job reading it has run (the full rehearsal wrote 70 GB of them,
    more than its machine's free disk); the bill still gives each model file's size,
    from its training record, which stays."""
    return temp(path) if config.get("rehearsal", {}).get("temp_models") else path


def training_settings(corpus, *path):
    """The training block ``training.<path...>`` with the corpus's selection metric
    (``corpora.<corpus>.select_metric``; a row's stage block may override it)."""
    block = config.get("training", {})
    for key in path:
        block = block.get(key, {})
    settings = {**block, "select_metric": config["corpora"][corpus]["select_metric"]}
    # the rehearsal (config/rehearsal.yaml) runs every stage for a few epochs; the
    # paper's epochs stay in the config for its bill of the full run
    rehearsal = config.get("rehearsal", {})
    if rehearsal.get("epochs") and "epochs" in settings:
        settings["epochs"] = min(settings["epochs"], rehearsal["epochs"])
    if rehearsal.get("max_batches"):
        settings["max_batches"] = rehearsal["max_batches"]
    return settings


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
    return alternatives(family_ids(family))


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
    return corpus_file(rules.unseen_text.output.unseen_text, corpus)


def experiment_dir(exp_id, fold, corpus=None):
    """Where the scoring of row ``exp_id`` on ``fold`` writes its predictions.tsv,
    metrics.json (and attention.json): in its own corpus unless ``corpus`` is given."""
    corpus = MATRIX[exp_id]["corpus"] if corpus is None else corpus
    return f"results/{corpus}/experiments/{exp_id}/{fold}"


# ---------------------------------------------------------------- shared by the families


def get_unseen_text(wildcards):
    """A scoring job's unseen-text list where its row reads text, else nothing."""
    return (
        unseen_text_list(wildcards.corpus) if reads_text(wildcards.experiment) else []
    )


def get_unseen_text_flag(wildcards, input):
    if "unseen_text" in input.keys() and input.unseen_text:
        return f"--unseen-text {input.unseen_text}"
    return ""


def get_stage1_pretrained(wildcards):
    """The fetched folders a stage-1 job (key ``wildcards.key``) loads."""
    return pretrained_for(STAGE1[wildcards.key])


def get_stage1_row(wildcards):
    """The matrix row a stage-1 job trains for (the first one with its key)."""
    return _json(_row(STAGE1[wildcards.key]))


def get_stage1_models(wildcards):
    return _json(models_for(STAGE1[wildcards.key]))


def get_experiment_pretrained(wildcards):
    """The fetched folders a job that builds (or loads) row ``wildcards.experiment``'s
    models needs."""
    return pretrained_for(wildcards.experiment)


def get_experiment_row(wildcards):
    """The matrix row a stage-2 job trains."""
    return _json(_row(wildcards.experiment, stage=2))


def get_experiment_models(wildcards):
    return _json(models_for(wildcards.experiment))


def checkpoints_beside(output, *parts):
    """A job's checkpoint folder: beside its model file, named by ``run_hash(*parts)``."""
    return f"{os.path.dirname(output)}/checkpoints/{run_hash(*parts)}"


def experiment_targets(family=None):
    targets = []
    for exp_id in EXPERIMENTS if family is None else family_ids(family, EXPERIMENTS):
        for fold in experiment_folds(exp_id):
            targets.append(f"{experiment_dir(exp_id, fold)}/metrics.json")
    return targets


# Each common_<family>.smk appends a function that returns its family's final targets;
# `rule all` (get_final_output) asks them after every file is included.
TARGET_SOURCES = []


def get_final_output(wildcards=None):
    targets = []
    for corpus in CORPORA:
        targets += [
            corpus_file(path, corpus)
            for path in (
                rules.prepare_corpus.output.manifest,
                rules.prepare_corpus.output.rejects,
                rules.make_folds.output.folds,
                rules.corpus_counts.output.csv,
                rules.passport.output.json,
                rules.unseen_text.output.unseen_text,
            )
        ]
    for source in TARGET_SOURCES:
        targets += source()
    return targets
