# Functions and settings of the LE-MER family's rules (lemer.smk): stages, label
# artefacts, scoring, sweeps, the K check, its targets.

import copy

import yaml

LE = config.get("label_embeddings", {})
LE_TEXT = LE.get("text", {})
LE_SPEECH = LE.get("speech", {})
# what shapes a trained LE-MER model (the sweeps and figures run beside it do not)
LE_RUN = {"text": LE_TEXT, "speech": LE_SPEECH}
# how many label keywords / frame codes are ranked per class, and shown
LE_TEXT_TABLE_K = LE_TEXT.get("table_k", 20)
LE_SPEECH_TABLE_K = LE_SPEECH.get("table_k", 250)
LE_TEXT_SHOW_K = LE_TEXT.get("show_k", 9)
# test utterances whose attention maps evaluate_lemer keeps (Figure 4)
LE_ATTENTION_UTTERANCES = LE.get("attention_utterances", 4)
LEMER_IDS = family_ids("le_mer")
LEMER_FUSED = [i for i in LEMER_IDS if MATRIX[i].get("combines")]
# the K sweeps (Figure 3) of the matrix's wang2023 file
LEMER_SWEEPS = {
    s["id"]: s
    for paper in ["wang2023"]
    for s in yaml.safe_load((MATRIX_DIR / f"{paper}.yaml").read_text())["sweeps"]
}

# `mlser label-keywords --settings` (mlser.features.label_keywords)
LABEL_KEYWORDS_SETTINGS = _json(
    {
        "k": LE_TEXT_TABLE_K,
        "stop_words": LE_TEXT.get("stop_words", "english"),
        "sublinear_tf": LE_TEXT.get("sublinear_tf", True),
        "smooth_idf": LE_TEXT.get("smooth_idf", True),
        "min_count": LE_TEXT.get("min_count", 1),
    }
)
# `mlser codebook --settings` (mlser.features.codebook): the quantizer as fetched
CODEBOOK_SETTINGS = _json(
    {
        k: LE_SPEECH[k]
        for k in ("method", "units", "max_fit_frames", "seed", "quantizer", "n_mels")
        if k in LE_SPEECH
    }
    | (
        {"quantizer": local_pretrained(LE_SPEECH["quantizer"])}
        if LE_SPEECH.get("quantizer")
        else {}
    )
)


def _check_k():
    """Every K a selected row or sweep asks for is within the ranked tables' length."""
    limits = {"text": LE_TEXT_TABLE_K, "speech": LE_SPEECH_TABLE_K}
    asks = []
    for i in family_ids("le_mer", EXPERIMENTS):
        for stage in ("stage1", "stage2"):
            le = (MATRIX[i]["model"].get(stage) or {}).get("label_embedding") or {}
            for kind in ("text", "speech"):
                if (le.get(kind) or {}).get("k"):
                    asks.append((i, kind, le[kind]["k"]))
    for sweep_id in LE.get("sweeps", []):
        if sweep_id not in LEMER_SWEEPS:
            raise WorkflowError(
                f"label_embeddings.sweeps: unknown sweep {sweep_id!r} "
                f"(config/experiments/wang2023.yaml has {sorted(LEMER_SWEEPS)})"
            )
        kind = "speech" if ".speech." in LEMER_SWEEPS[sweep_id]["parameter"] else "text"
        asks += [(sweep_id, kind, v) for v in _sweep_values(sweep_id)]
    for who, kind, k in asks:
        if k > limits[kind]:
            raise WorkflowError(
                f"{who} asks for K = {k} {kind} keywords, more than "
                f"label_embeddings.{kind}.table_k = {limits[kind]}: raise table_k"
            )


def _lemer_stage(exp_id, stage):
    """The architecture a stage of a row trains (stage 1, or stage 1 overlaid by 2)."""
    m = MATRIX[exp_id]["model"]
    if stage == 1:
        return m["stage1"]
    return {
        **m["stage1"],
        **m["stage2"],
        "label_embedding": m["stage2"].get("label_embedding"),
    }


def lemer_stage1_model(exp_id, fold):
    """The LE-MER stage-1 model of a row (rule train_lemer_stage1)."""
    e = MATRIX[exp_id]
    return f"results/{e['corpus']}/lemer/stage1/{stage1_key(e)}/{fold}/model.pt"


def _lemer_final(exp_id, fold):
    e = MATRIX[exp_id]
    if e["model"].get("stage2"):
        return f"results/{e['corpus']}/lemer/stage2/{exp_id}/{fold}/model.pt"
    return lemer_stage1_model(exp_id, fold)


def lemer_model_bases(exp_id, fold):
    """The model files the final LE-MER model of row ``exp_id`` takes frozen weights
    from (`mlser.training.model_files`): a stage-2 model's stage 1."""
    if MATRIX[exp_id]["model"].get("stage2"):
        return [lemer_stage1_model(exp_id, fold)]
    return []


def _lemer_scored():
    """The rows `evaluate_lemer` scores (the selected LE-MER rows but score fusions, and
    the rows those combine), their corpus and their folds. One job per fold writes every
    row's outputs, so the rows must share one corpus and one set of folds."""
    selected = family_ids("le_mer", EXPERIMENTS)
    ids = {i for i in selected if not MATRIX[i].get("combines")}
    ids |= {c for i in selected for c in MATRIX[i].get("combines", [])}
    ids = sorted(ids)
    if not ids:
        return [], None, []
    corpora = {MATRIX[i]["corpus"] for i in ids}
    folds = {tuple(experiment_folds(i)) for i in ids}
    if len(corpora) > 1 or len(folds) > 1:
        raise WorkflowError(
            "the LE-MER rows scored together must share one corpus and one set of folds: "
            + ", ".join(
                f"{i} ({MATRIX[i]['corpus']}: {', '.join(experiment_folds(i))})"
                for i in ids
            )
        )
    return ids, corpora.pop(), list(folds.pop())


def _lemer_scoring_outputs(exp_id, fold):
    """A scored row's predictions, metrics and attention maps on one fold."""
    out = experiment_dir(exp_id, fold, corpus=LEMER_CORPUS)
    return {
        "predictions": f"{out}/predictions.tsv",
        "metrics": f"{out}/metrics.json",
        "attention": f"{out}/attention.json",
    }


def lemer_scored_outputs(fold):
    """Every file `evaluate_lemer` writes on one fold (left open as "{fold}")."""
    return [
        path for i in LEMER_SCORED for path in _lemer_scoring_outputs(i, fold).values()
    ]


def _lemer_fold_scorings(fold):
    """What `evaluate_lemer` scores on one test fold: each scored row with the model it
    is scored with (its own, or the one it reuses), its texts' dialogue history and its
    three outputs."""
    scorings = []
    for i in LEMER_SCORED:
        owner = model_owner(MATRIX[i], MATRIX)
        scorings.append(
            {
                "id": i,
                "model": _lemer_final(owner, fold),
                "text_history": _history(owner),
                **_lemer_scoring_outputs(i, fold),
                "unseen_text": (
                    unseen_text_list(LEMER_CORPUS) if reads_text(i) else None
                ),
            }
        )
    return scorings


def _lemer_inputs(corpus, fold, stage_block):
    """The fold's label artefacts a stage reads (rules label_keywords, codebook_frames)."""
    le = stage_block.get("label_embedding") or {}
    files = {
        "keywords": rules.label_keywords.output.keywords,
        "codebook": rules.codebook_frames.output.codebook,
        "frame_codes": rules.codebook_frames.output.codes,
    }
    wanted = []
    if stage_block.get("strategy") == "continued_pretraining":
        wanted.append("codebook")
    if le.get("text", {}).get("init") == "tfidf":
        wanted.append("keywords")
    if le.get("speech", {}).get("init") == "codebook":
        wanted += ["codebook", "frame_codes"]
    # every seed's run of a fold reads that fold's tables: they depend on data only
    fold = split_run(fold)[0]
    return {k: expand(files[k], corpus=corpus, fold=fold)[0] for k in wanted}


def _flags(inputs):
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(inputs.items()))


def _label_flags(input, keys):
    """`--codebook ... --keywords ... --frame-codes ...` of the label artefacts (and a
    sweep point's `--init`) among a job's inputs."""
    return _flags({k: input[k] for k in keys if k in input.keys() and input[k]})


def _history(exp_id):
    m = MATRIX[exp_id]["model"]
    return (m.get("stage2") or {}).get(
        "text_history", m["stage1"].get("text_history", 0)
    )


def _lemer_training(corpus, stage_block):
    """The LE-MER training block of a stage (continued pre-training or fine-tuning), with
    the corpus's selection metric."""
    kind = (
        "pretrain"
        if stage_block.get("strategy") == "continued_pretraining"
        else "finetune"
    )
    return training_settings(corpus, "le_mer", kind)


def _sweep_base(sweep_id):
    """The row a sweep varies (the first of its `bases`)."""
    return LEMER_SWEEPS[sweep_id]["bases"][0]


def _sweep_stage(sweep_id):
    """The stage a sweep point trains: 2 if its row has one (from the row's stage 1)."""
    return 2 if MATRIX[_sweep_base(sweep_id)]["model"].get("stage2") else 1


def _sweep_row(sweep_id, value):
    """The base row of a sweep with its parameter set to ``value``."""
    sweep = LEMER_SWEEPS[sweep_id]
    row = copy.deepcopy(_row(sweep["bases"][0]))
    node = row["model"]
    *path, last = sweep["parameter"].split(".")
    for key in path:
        node = node[key]
    node[last] = int(value)
    row["id"] = f"{sweep['bases'][0]}-{sweep_id}-{value}"
    return row


def _sweep_values(sweep_id):
    return LE.get("sweep_values", {}).get(sweep_id) or LEMER_SWEEPS[sweep_id]["grid"]


def _sweep_folds(sweep_id):
    base = _sweep_base(sweep_id)
    # a figure's sweep: under the first seed only (each point is a training per fold)
    folds = first_seed_runs(base)
    wanted = LE.get("sweep_folds")
    if wanted is None:
        return folds
    missing = [f for f in wanted if f not in folds]
    if missing:
        raise WorkflowError(
            f"label_embeddings.sweep_folds: {missing} are not folds of {base} "
            f"(the row swept by {sweep_id}: {folds})"
        )
    return [f for f in folds if f in wanted]


def _lemer_folds_of(corpus):
    ids = [
        i for i in family_ids("le_mer", EXPERIMENTS) if MATRIX[i]["corpus"] == corpus
    ]
    folds = []
    for i in ids:
        folds += [f for f, _ in map(split_run, experiment_folds(i)) if f not in folds]
    return folds


def lemer_targets():
    ids = family_ids("le_mer", EXPERIMENTS)
    if not ids:
        return []
    out = experiment_targets("le_mer") + ["results/tables/experiments.csv"]
    corpora = sorted({MATRIX[i]["corpus"] for i in ids})
    for corpus in corpora:
        out.append(f"results/{corpus}/tables/lemer_keywords.md")
        out.append(
            f"results/figures/wang2023/fig1_{corpus}_{_lemer_folds_of(corpus)[0]}.pdf"
        )
    for sweep_id in LE.get("sweeps", []):
        out.append(f"results/figures/wang2023/fig3_{sweep_id}.pdf")
    shown = [i for i in ids if MATRIX[i]["model"]["inputs"] == ["speech", "text"]]
    shown = [i for i in shown if not MATRIX[i].get("combines")]
    if shown and LE_ATTENTION_UTTERANCES:
        out.append(f"results/figures/wang2023/fig4_{shown[0]}.pdf")
    return out


# the rows `evaluate_lemer` scores: the selected ones and the rows that selected score
# fusions combine; on one corpus and the same folds (checked in _lemer_scored)
LEMER_SCORED, LEMER_CORPUS, LEMER_SCORED_FOLDS = _lemer_scored()
TARGET_SOURCES.append(lemer_targets)
_check_k()


# ---------------------------------------------------------------- train_lemer_stage1


def get_lemer_stage1_labels(wildcards):
    stage = _lemer_stage(STAGE1[wildcards.key], 1)
    return _lemer_inputs(wildcards.corpus, wildcards.fold, stage)


def _lemer_stage1_training(wildcards):
    stage = _lemer_stage(STAGE1[wildcards.key], 1)
    return _lemer_training(wildcards.corpus, stage)


def get_lemer_stage1_training(wildcards):
    return _json(_lemer_stage1_training(wildcards))


def get_lemer_stage1_history(wildcards):
    return _lemer_stage(STAGE1[wildcards.key], 1).get("text_history", 0)


def get_label_flags(wildcards, input):
    return _label_flags(input, ("codebook", "keywords", "frame_codes"))


def get_lemer_stage1_checkpoints(wildcards, output):
    return checkpoints_beside(
        output[0],
        models_for(STAGE1[wildcards.key]),
        _lemer_stage1_training(wildcards),
        LE_RUN,
    )


# ---------------------------------------------------------------- train_lemer_stage2


def get_lemer_stage2_labels(wildcards):
    stage = _lemer_stage(wildcards.experiment, 2)
    return _lemer_inputs(wildcards.corpus, wildcards.fold, stage)


def get_lemer_stage2_init(wildcards):
    """A LE-MER stage 2 starts from the row's own stage 1."""
    return lemer_stage1_model(wildcards.experiment, wildcards.fold)


def get_lemer_finetune_training(wildcards):
    return _json(training_settings(wildcards.corpus, "le_mer", "finetune"))


def get_lemer_history(wildcards):
    return _history(wildcards.experiment)


def get_lemer_stage2_checkpoints(wildcards, output):
    return checkpoints_beside(
        output[0],
        models_for(wildcards.experiment),
        training_settings(wildcards.corpus, "le_mer", "finetune"),
        LE_RUN,
        MATRIX[wildcards.experiment]["model"]["stage2"],
    )


# ---------------------------------------------------------------- evaluate_lemer


def get_lemer_scored_models(wildcards):
    return [s["model"] for s in _lemer_fold_scorings(wildcards.fold)]


def get_lemer_scored_bases(wildcards):
    owners = [model_owner(MATRIX[i], MATRIX) for i in LEMER_SCORED]
    return bases_of(owners, wildcards.fold, bases=lemer_model_bases)


def get_lemer_scored_pretrained(wildcards):
    return pretrained_for(*(s["id"] for s in _lemer_fold_scorings(wildcards.fold)))


def get_lemer_unseen_text(wildcards):
    """The corpus's unseen-text list, once, if any scored row reads text."""
    return [unseen_text_list(LEMER_CORPUS) for i in LEMER_SCORED if reads_text(i)][:1]


def get_lemer_scorings(wildcards):
    return _json(_lemer_fold_scorings(wildcards.fold))


# ---------------------------------------------------------------- lemer_score_fusion


def get_fusion_inputs(wildcards):
    """The predictions of the rows a score fusion combines (rule evaluate_lemer)."""
    return [
        f"{experiment_dir(i, wildcards.fold, corpus=wildcards.corpus)}/predictions.tsv"
        for i in MATRIX[wildcards.experiment]["combines"]
    ]


# ---------------------------------------------------------------- lemer_sweep_point


def get_sweep_labels(wildcards):
    stage = _lemer_stage(_sweep_base(wildcards.sweep), _sweep_stage(wildcards.sweep))
    return _lemer_inputs(wildcards.corpus, wildcards.fold, stage)


def get_sweep_init(wildcards):
    """The stage-1 model a sweep point's stage 2 starts from (none for one-stage rows)."""
    if _sweep_stage(wildcards.sweep) == 1:
        return []
    return lemer_stage1_model(_sweep_base(wildcards.sweep), wildcards.fold)


def get_sweep_pretrained(wildcards):
    return pretrained_for(*LEMER_SWEEPS[wildcards.sweep]["bases"])


def get_sweep_row(wildcards):
    return _json(_sweep_row(wildcards.sweep, wildcards.value))


def get_sweep_stage(wildcards):
    return _sweep_stage(wildcards.sweep)


def get_sweep_models(wildcards):
    return _json(models_for(*LEMER_SWEEPS[wildcards.sweep]["bases"]))


def get_sweep_history(wildcards):
    return _history(_sweep_base(wildcards.sweep))


def get_sweep_label_flags(wildcards, input):
    return _label_flags(input, ("codebook", "keywords", "frame_codes", "init"))


def get_sweep_checkpoints(wildcards, output):
    return checkpoints_beside(
        output.model,
        models_for(*LEMER_SWEEPS[wildcards.sweep]["bases"]),
        training_settings(wildcards.corpus, "le_mer", "finetune"),
        LE_RUN,
    )


def get_sweep_scorings(wildcards, output):
    """The sweep point's own scoring, as `evaluate-lemer --scorings` reads it."""
    return _json(
        [
            {
                "id": f"{wildcards.sweep}-{wildcards.value}",
                "model": output.model,
                "text_history": _history(_sweep_base(wildcards.sweep)),
                "predictions": output.predictions,
                "metrics": output.metrics,
                "attention": output.attention,
            }
        ]
    )


# ---------------------------------------------------------------- tables and figures


def get_keyword_tables(wildcards):
    """The keyword tables of every LE-MER fold of the corpus (rule label_keywords)."""
    return expand(
        rules.label_keywords.output.keywords,
        corpus=wildcards.corpus,
        fold=_lemer_folds_of(wildcards.corpus),
    )


def get_keyword_table_folds(wildcards):
    return " ".join(_lemer_folds_of(wildcards.corpus))


def get_sweep_metrics(wildcards):
    """Every point and fold of a sweep (rule lemer_sweep_point)."""
    return expand(
        rules.lemer_sweep_point.output.metrics,
        corpus=MATRIX[_sweep_base(wildcards.sweep)]["corpus"],
        sweep=wildcards.sweep,
        value=_sweep_values(wildcards.sweep),
        fold=_sweep_folds(wildcards.sweep),
    )


def get_attention_maps(wildcards):
    """The attention maps a row's scoring kept on its first fold (Figure 4)."""
    fold = experiment_folds(wildcards.experiment)[0]
    return f"{experiment_dir(wildcards.experiment, fold)}/attention.json"
