# Functions of the hierarchical family's rules (hierarchical.smk): the feature sets,
# probabilities and figure rows of the alqurashi2024 rows; its targets.

HIER_FIGURES = "results/figures/alqurashi2024"
# the thresholds evaluate_hierarchical sweeps and the figures draw
HIER_THRESHOLDS = " ".join(
    str(t) for t in config["evaluation"]["hierarchical_thresholds"]
)


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
    return pretrained_folders({kind: {name: spec}})


def hier_probs(corpus, fold, inputs, level):
    """The probabilities one classifier (rule train_hierarchical) writes."""
    return expand(
        rules.train_hierarchical.output.probs,
        corpus=corpus,
        fold=fold,
        inputs=inputs,
        level=level,
    )[0]


def hier_figure_rows():
    """(experiment, fold) of the selected un-thresholded speech+text rows (Figs 2 and 3),
    re-prints of another row (Table III's) left out."""
    return [
        (i, fold)
        for i in _hier_ids()
        if hier_text_inputs(i)
        and MATRIX[i]["model"].get("threshold") is None
        and "same_run_as" not in MATRIX[i]
        for fold in first_seed_runs(i)
    ]


def hier_figure_files(name):
    return [f"{experiment_dir(i, fold)}/{name}" for i, fold in hier_figure_rows()]


def hierarchical_targets():
    targets = experiment_targets("hierarchical")
    if hier_figure_rows():
        targets += [
            f"{HIER_FIGURES}/fig2_text_corrections.png",
            f"{HIER_FIGURES}/fig3_neutral_precision_recall.png",
        ]
    return targets


TARGET_SOURCES.append(hierarchical_targets)


# ---------------------------------------------------------------- feature extraction


def get_text_encoder_pretrained(wildcards):
    return hier_pretrained("text", wildcards.encoder)


def get_text_encoder_spec(wildcards):
    return hier_model_spec("text", wildcards.encoder)


def get_acoustic_encoder_pretrained(wildcards):
    return hier_pretrained("acoustic", wildcards.encoder)


def get_acoustic_encoder_spec(wildcards):
    return hier_model_spec("acoustic", wildcards.encoder)


# ---------------------------------------------------------------- train_hierarchical


def get_hierarchical_features(wildcards):
    """The feature tables a classifier reads: its `inputs` wildcard, names joined by '+'
    (rules extract_acoustic_features, extract_ssl_features, extract_word_embeddings)."""
    return [
        f"results/{wildcards.corpus}/features/{name}.pt"
        for name in wildcards.inputs.split("+")
    ]


def get_hierarchical_training(wildcards):
    return _json(training_settings(wildcards.corpus, "hierarchical"))


def get_hierarchical_checkpoints(wildcards, output):
    return checkpoints_beside(
        output.model, training_settings(wildcards.corpus, "hierarchical")
    )


# ---------------------------------------------------------------- evaluate_hierarchical


def get_evaluate_hierarchical_input(wildcards):
    exp, c, f = wildcards.experiment, wildcards.corpus, wildcards.fold
    inputs = {
        "manifest": corpus_file(rules.prepare_corpus.output.manifest, c),
        "folds": corpus_file(rules.make_folds.output.folds, c),
        "level1": hier_probs(c, f, hier_speech_inputs(exp), "level1"),
        "level2": hier_probs(c, f, hier_speech_inputs(exp), "level2"),
    }
    if hier_text_inputs(exp):
        inputs["text"] = hier_probs(c, f, hier_text_inputs(exp), "text")
    # the classifiers themselves: their training records feed the row passport
    inputs["models"] = [
        str(Path(inputs[level]).parent / "model.pt")
        for level in ("level1", "level2", "text")
        if level in inputs
    ]
    if reads_text(exp):
        inputs["unseen_text"] = unseen_text_list(c)
    return inputs


def get_hierarchical_threshold(wildcards):
    threshold = MATRIX[wildcards.experiment]["model"].get("threshold")
    return "none" if threshold is None else threshold


def get_hierarchical_text_flags(wildcards, input):
    """Model 3's probabilities and the thresholds swept on them (speech+text rows)."""
    if "text" not in input.keys():
        return ""
    return f"--text {input.text} --sweep {HIER_THRESHOLDS}"


# ---------------------------------------------------------------- figures_alqurashi2024


def get_figure_row_labels(wildcards):
    return " ".join(shlex.quote(MATRIX[i]["row"]) for i, _ in hier_figure_rows())


def get_fig2_stem(wildcards, output):
    return os.path.splitext(output.fig2)[0]


def get_fig3_stem(wildcards, output):
    return os.path.splitext(output.fig3)[0]
