# Functions of the LE-MER family's rules (lemer.smk): stages, label artefacts, sweeps,
# the K check, its targets. The constants they read (LE, LEMER_SWEEPS, ...) are set in
# lemer.smk before anything calls them.

import copy


def _check_k():
    """Every K a selected row or sweep asks for is within the ranked tables' length."""
    limits = {
        "text": LE_TEXT.get("table_k", 20),
        "speech": LE_SPEECH.get("table_k", 250),
    }
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


def _regex(ids):
    return "|".join(re.escape(i) for i in ids) or "^$"


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


def _lemer_final(exp_id, fold):
    e = MATRIX[exp_id]
    if e["model"].get("stage2"):
        return f"results/{e['corpus']}/lemer/stage2/{exp_id}/{fold}/model.pt"
    return f"results/{e['corpus']}/lemer/stage1/{stage1_key(e)}/{fold}/model.pt"


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
    out = f"results/{LEMER_CORPUS}/experiments/{exp_id}/{fold}"
    return {
        "predictions": f"{out}/predictions.tsv",
        "metrics": f"{out}/metrics.json",
        "attention": f"{out}/attention.json",
    }


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
    """The fold's label artefacts a stage reads."""
    le = stage_block.get("label_embedding") or {}
    base = f"results/{corpus}/label_embeddings/{fold}"
    out = {}
    if stage_block.get("strategy") == "continued_pretraining":
        out["codebook"] = f"{base}/codebook.npz"
    if le.get("text", {}).get("init") == "tfidf":
        out["keywords"] = f"{base}/keywords.tsv"
    if le.get("speech", {}).get("init") == "codebook":
        out["codebook"] = f"{base}/codebook.npz"
        out["frame_codes"] = f"{base}/frame_codes.tsv"
    return out


def _flags(inputs):
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(inputs.items()))


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
    return get_training(corpus, "le_mer", kind)


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


def _sweep_init(sweep_id, fold):
    """The stage-1 model a sweep point's stage 2 starts from (none for one-stage rows)."""
    base = MATRIX[LEMER_SWEEPS[sweep_id]["bases"][0]]
    if not base["model"].get("stage2"):
        return []
    return f"results/{base['corpus']}/lemer/stage1/{stage1_key(base)}/{fold}/model.pt"


def _sweep_values(sweep_id):
    return LE.get("sweep_values", {}).get(sweep_id) or LEMER_SWEEPS[sweep_id]["grid"]


def _sweep_folds(sweep_id):
    base = LEMER_SWEEPS[sweep_id]["bases"][0]
    folds = experiment_folds(base)
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
    if shown and LE.get("attention_utterances", 4):
        out.append(f"results/figures/wang2023/fig4_{shown[0]}.pdf")
    return out


def _lemer_folds_of(corpus):
    ids = [
        i for i in family_ids("le_mer", EXPERIMENTS) if MATRIX[i]["corpus"] == corpus
    ]
    folds = []
    for i in ids:
        folds += [f for f in experiment_folds(i) if f not in folds]
    return folds


def _stage1_row(key):
    return next(i for i in TRAINED if stage1_key(MATRIX[i]) == key)


def _stage2_init(w):
    e = MATRIX[w.experiment]
    return f"results/{e['corpus']}/lemer/stage1/{stage1_key(e)}/{w.fold}/model.pt"


def _sweep_metrics(w):
    base = LEMER_SWEEPS[w.sweep]["bases"][0]
    corpus = MATRIX[base]["corpus"]
    return [
        f"results/{corpus}/sweeps/{w.sweep}/{v}/{f}/metrics.json"
        for v in _sweep_values(w.sweep)
        for f in _sweep_folds(w.sweep)
    ]
