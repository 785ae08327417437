# Functions of the multi-level family's rules (multilevel.smk): stage-1 and stage-2
# settings, which model each selected row is scored with, its targets.


def _scoring(exp_id, fold="{fold}"):
    """The model file (of ``fold``; left open by default) and the test-time text a row
    is scored with."""
    e = MATRIX[exp_id]
    model = final_model(model_owner(e, MATRIX), fold)
    return model, e["model"].get("text_source_test") or "none"


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


def multilevel_targets():
    if not EXPERIMENTS:
        return []
    return experiment_targets("multilevel") + ["results/tables/experiments.csv"]


TARGET_SOURCES.append(multilevel_targets)


# ---------------------------------------------------------------- train_stage1


def get_multilevel_stage1_training(wildcards):
    return _json(training_settings(wildcards.corpus, "multilevel", "stage1"))


def get_train_stage1_checkpoints(wildcards, input, output):
    return checkpoints_beside(
        output[0],
        models_for(STAGE1[wildcards.key]),
        training_settings(wildcards.corpus, "multilevel", "stage1"),
        get_acoustic_init_flag(wildcards, input),
        *selection_parts(STAGE1[wildcards.key], 1),
    )


# ---------------------------------------------------------------- train_stage2


def get_stage2_init(wildcards):
    """The model a multi-level stage 2 starts from: its own stage 1, or the model of the
    row it is initialised from (`init_from`)."""
    return stage2_init_model(wildcards.experiment, wildcards.fold)


def get_stage2_init_bases(wildcards):
    """The model files the starting model itself takes frozen weights from."""
    start = stage2_start(wildcards.experiment)
    return model_bases(start, wildcards.fold) if start is not None else []


def get_multilevel_stage2_training(wildcards):
    return _json(training_settings(wildcards.corpus, "multilevel", "stage2"))


def get_train_stage2_checkpoints(wildcards, output):
    return checkpoints_beside(
        output[0],
        models_for(wildcards.experiment),
        training_settings(wildcards.corpus, "multilevel", "stage2"),
        MATRIX[wildcards.experiment]["model"]["stage2"],
        *selection_parts(wildcards.experiment, 2),
    )


# ---------------------------------------------------------------- evaluate_multilevel


def get_multilevel_scored_models(wildcards):
    return [s["model"] for s in fold_scorings(wildcards.corpus, wildcards.fold)]


def get_multilevel_scored_bases(wildcards):
    scorings = fold_scorings(wildcards.corpus, wildcards.fold)
    return bases_of(
        [model_owner(MATRIX[s["id"]], MATRIX) for s in scorings], wildcards.fold
    )


def get_multilevel_scored_pretrained(wildcards):
    return pretrained_for(
        *(s["id"] for s in fold_scorings(wildcards.corpus, wildcards.fold))
    )


def get_multilevel_scorings(wildcards):
    return _json(fold_scorings(wildcards.corpus, wildcards.fold))


# ---------------------------------------------------------------- experiment_predictions


def get_scored_as(wildcards):
    """The row whose scoring this row shares (itself, or the first with its model)."""
    return PREDICTIONS_OF[wildcards.experiment]


# ---------------------------------------------------------------- evaluate_on_transcripts


def on_transcripts_dir(exp_id, source, fold):
    """Where a text-only row's model, scored on row ``source``'s ASR transcripts of the
    same run (a figure panel's ``transcripts_from``), writes predictions.tsv, metrics.json.
    """
    return f"results/{MATRIX[exp_id]['corpus']}/on_transcripts/{exp_id}/{source}/{fold}"


def on_transcripts_runs(exp_id, source):
    """The first-seed runs both rows have (none unless both are selected)."""
    if exp_id not in EXPERIMENTS or source not in EXPERIMENTS:
        return []
    theirs = set(experiment_folds(source))
    return [r for r in first_seed_runs(exp_id) if r in theirs]


def get_on_transcripts_model(wildcards):
    return final_model(
        model_owner(MATRIX[wildcards.experiment], MATRIX), wildcards.fold
    )


def get_on_transcripts_bases(wildcards):
    return bases_of([model_owner(MATRIX[wildcards.experiment], MATRIX)], wildcards.fold)


def get_on_transcripts_pretrained(wildcards):
    return pretrained_for(wildcards.experiment)


def get_transcripts_of(wildcards):
    """The transcribing row's predictions of the same run: its ``transcript`` column."""
    return f"{experiment_dir(wildcards.source, wildcards.fold)}/predictions.tsv"
