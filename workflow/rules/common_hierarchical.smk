# Functions of the hierarchical family's rules (hierarchical.smk): the feature sets,
# probabilities and figure rows of the alqurashi2024 rows; its targets.


def _hier_ids():
    return family_ids("hierarchical", EXPERIMENTS)


def hier_speech_inputs(exp_id):
    """The speech feature sets a row's Models 1 and 2 read, joined by '+': handcrafted
    sets, or the frames of a frozen SSL encoder (`ssl-<models.acoustic name>`)."""
    stage1 = MATRIX[exp_id]["model"]["stage1"]
    if stage1.get("acoustic_encoder"):
        return f"ssl-{stage1['acoustic_encoder']}"
    return "+".join(stage1["acoustic_features"])


def hier_text_inputs(exp_id):
    """The word-embedding table a row's Model 3 reads, or None for a speech-only row."""
    stage2 = MATRIX[exp_id]["model"].get("stage2")
    return f"text-{stage2['text_encoder']}" if stage2 else None


def hier_model_spec(kind, name):
    """The config's `models.<kind>.<name>` entry, or an error naming the missing key."""
    specs = config["models"].get(kind, {})
    if name not in specs:
        raise WorkflowError(
            f"models.{kind}.{name}: alqurashi2024 rows use the {kind} encoder {name!r}, "
            f"which the config does not define (it has {sorted(specs)})"
        )
    return _json(local_spec(specs[name]))


def hier_pretrained(kind, name):
    """The fetched folder an encoder's feature extraction loads (pretrained.smk)."""
    spec = config["models"].get(kind, {}).get(name) or {}
    return get_pretrained_inputs({kind: {name: spec}})


def hier_probs(corpus, fold, inputs, level):
    return f"results/{corpus}/hierarchical/{fold}/{inputs}/{level}/probs.tsv"


def hier_evaluate_inputs(wildcards):
    exp, c, f = wildcards.experiment, wildcards.corpus, wildcards.fold
    inputs = {
        "manifest": f"results/{c}/manifest.tsv",
        "folds": f"results/{c}/folds.tsv",
        "level1": hier_probs(c, f, hier_speech_inputs(exp), "level1"),
        "level2": hier_probs(c, f, hier_speech_inputs(exp), "level2"),
    }
    if hier_text_inputs(exp):
        inputs["text"] = hier_probs(c, f, hier_text_inputs(exp), "text")
    if reads_text(exp):
        inputs["unseen_text"] = unseen_text_list(c)
    return inputs


def hier_figure_rows():
    """(experiment, fold) of the selected un-thresholded speech+text rows (Figs 2 and 3),
    re-prints of another row (Table III's) left out."""
    return [
        (i, fold)
        for i in _hier_ids()
        if hier_text_inputs(i)
        and MATRIX[i]["model"].get("threshold") is None
        and "same_run_as" not in MATRIX[i]
        for fold in experiment_folds(i)
    ]


def hier_figure_files(name):
    return [
        f"results/{MATRIX[i]['corpus']}/experiments/{i}/{fold}/{name}"
        for i, fold in hier_figure_rows()
    ]


def hierarchical_targets():
    targets = experiment_targets("hierarchical")
    if hier_figure_rows():
        targets += [
            f"{HIER_FIGURES}/fig2_text_corrections.png",
            f"{HIER_FIGURES}/fig3_neutral_precision_recall.png",
        ]
    return targets
