# The LE-MER family (wang2023): label keywords and codebook frames per training fold,
# continued pre-training, fine-tuning, scoring, score fusion, the K sweep, figures.

import yaml

LE = config.get("label_embeddings", {})
LE_TEXT = LE.get("text", {})
LE_SPEECH = LE.get("speech", {})
# what shapes a trained LE-MER model (the sweeps and figures run beside it do not)
LE_RUN = {"text": LE_TEXT, "speech": LE_SPEECH}
LEMER_IDS = family_ids("le_mer")
LEMER_FUSED = [i for i in LEMER_IDS if MATRIX[i].get("combines")]
# the rows `evaluate_lemer` scores: the selected ones and the rows that selected score
# fusions combine; on one corpus and the same folds (checked in _lemer_scored)
LEMER_SCORED, LEMER_CORPUS, LEMER_SCORED_FOLDS = _lemer_scored()
LEMER_SWEEPS = {
    s["id"]: s
    for paper in ["wang2023"]
    for s in yaml.safe_load((MATRIX_DIR / f"{paper}.yaml").read_text())["sweeps"]
}


TARGET_SOURCES.append(lemer_targets)
_check_k()


rule label_keywords:
    input:
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        "results/{corpus}/label_embeddings/{fold}/keywords.tsv",
    log:
        "results/logs/label_keywords/{corpus}/{fold}.log",
    benchmark:
        "results/benchmarks/label_keywords/{corpus}/{fold}.tsv"
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    params:
        settings=_json(
            {
                "k": LE_TEXT.get("table_k", 20),
                "stop_words": LE_TEXT.get("stop_words", "english"),
                "sublinear_tf": LE_TEXT.get("sublinear_tf", True),
                "smooth_idf": LE_TEXT.get("smooth_idf", True),
                "min_count": LE_TEXT.get("min_count", 1),
            }
        ),
    shell:
        "python -m mlser label-keywords --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule codebook_frames:
    input:
        pretrained=quantizer_input,
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        codebook="results/{corpus}/label_embeddings/{fold}/codebook.npz",
        codes="results/{corpus}/label_embeddings/{fold}/frame_codes.tsv",
    log:
        "results/logs/codebook_frames/{corpus}/{fold}.log",
    benchmark:
        "results/benchmarks/codebook_frames/{corpus}/{fold}.tsv"
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    # as many as a neural job: with 2 on a 2-core run it waited for both cores to be
    # free, i.e. for the end of every training, and its chain ran last, one job at a time
    threads: NEURAL_THREADS
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        settings=_json(
            {
                k: LE_SPEECH[k]
                for k in (
                    "method",
                    "units",
                    "max_fit_frames",
                    "seed",
                    "quantizer",
                    "n_mels",
                )
                if k in LE_SPEECH
            }
            | (
                {"quantizer": local_pretrained(LE_SPEECH["quantizer"])}
                if LE_SPEECH.get("quantizer")
                else {}
            )
        ),
        table_k=LE_SPEECH.get("table_k", 250),
    shell:
        "python -m mlser codebook --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --settings {params.settings:q} --table-k {params.table_k} --threads {threads}"
        " --out-codebook {output.codebook} --out-codes {output.codes} > {log} 2>&1"


rule train_lemer_stage1:
    input:
        unpack(
            lambda w: _lemer_inputs(
                w.corpus, w.fold, _lemer_stage(_stage1_row(w.key), 1)
            )
        ),
        pretrained=lambda w: pretrained_for(_stage1_row(w.key)),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        "results/{corpus}/lemer/stage1/{key}/{fold}/model.pt",
    log:
        "results/logs/train_lemer_stage1/{corpus}/{key}/{fold}.log",
    benchmark:
        "results/benchmarks/train_lemer_stage1/{corpus}/{key}/{fold}.tsv"
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=1440,
    params:
        device=NEURAL_DEVICE,
        experiment=lambda w: _json(_row(_stage1_row(w.key))),
        models=lambda w: _json(models_for(_stage1_row(w.key))),
        training=lambda w: _json(
            _lemer_training(w.corpus, _lemer_stage(_stage1_row(w.key), 1))
        ),
        history=lambda w: _lemer_stage(_stage1_row(w.key), 1).get("text_history", 0),
        labels=lambda w, input: _flags(
            {
                k: input[k]
                for k in ("codebook", "keywords", "frame_codes")
                if k in input.keys()
            }
        ),
        checkpoints=lambda w: (
            f"results/{w.corpus}/lemer/stage1/{w.key}/{w.fold}/checkpoints/"
            + run_hash(
                models_for(_stage1_row(w.key)),
                _lemer_training(w.corpus, _lemer_stage(_stage1_row(w.key), 1)),
                LE_RUN,
            )
        ),
    shell:
        "python -m mlser train-lemer --stage 1 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --text-history {params.history} {params.labels}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"


rule train_lemer_stage2:
    input:
        unpack(lambda w: _lemer_inputs(w.corpus, w.fold, _lemer_stage(w.experiment, 2))),
        init=_stage2_init,
        pretrained=lambda w: pretrained_for(w.experiment),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        "results/{corpus}/lemer/stage2/{experiment}/{fold}/model.pt",
    log:
        "results/logs/train_lemer_stage2/{corpus}/{experiment}/{fold}.log",
    benchmark:
        "results/benchmarks/train_lemer_stage2/{corpus}/{experiment}/{fold}.tsv"
    wildcard_constraints:
        experiment=ids_regex("le_mer"),
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=720,
    params:
        device=NEURAL_DEVICE,
        experiment=lambda w: _json(_row(w.experiment)),
        models=lambda w: _json(models_for(w.experiment)),
        training=lambda w: _json(get_training(w.corpus, "le_mer", "finetune")),
        history=lambda w: _history(w.experiment),
        labels=lambda w, input: _flags(
            {
                k: input[k]
                for k in ("codebook", "keywords", "frame_codes")
                if k in input.keys()
            }
        ),
        checkpoints=lambda w: (
            f"results/{w.corpus}/lemer/stage2/{w.experiment}/{w.fold}/checkpoints/"
            + run_hash(
                models_for(w.experiment),
                get_training(w.corpus, "le_mer", "finetune"),
                LE_RUN,
                MATRIX[w.experiment]["model"]["stage2"],
            )
        ),
    shell:
        "python -m mlser train-lemer --stage 2 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --text-history {params.history} {params.labels}"
        " --init {input.init} --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device}"
        " --out {output} > {log} 2>&1"


if LEMER_SCORED:

    # One job per test fold scores every LE-MER model of the fold: torch and
    # transformers start once for all of them (a job per row paid 5-7 s each)
    rule evaluate_lemer:
        input:
            models=lambda w: [s["model"] for s in _lemer_fold_scorings(w.fold)],
            bases=lambda w: model_bases(
                *(s["model"] for s in _lemer_fold_scorings(w.fold))
            ),
            pretrained=lambda w: pretrained_for(
                *(s["id"] for s in _lemer_fold_scorings(w.fold))
            ),
            manifest=f"results/{LEMER_CORPUS}/manifest.tsv",
            folds=f"results/{LEMER_CORPUS}/folds.tsv",
            unseen_text=[
                unseen_text_list(LEMER_CORPUS) for i in LEMER_SCORED if reads_text(i)
            ][:1],
        output:
            [
                path
                for i in LEMER_SCORED
                for path in _lemer_scoring_outputs(i, "{fold}").values()
            ],
        log:
            f"results/logs/evaluate_lemer/{LEMER_CORPUS}/{{fold}}.log",
        benchmark:
            f"results/benchmarks/evaluate_lemer/{LEMER_CORPUS}/{{fold}}.tsv"
        wildcard_constraints:
            fold=_regex(LEMER_SCORED_FOLDS),
        priority: 1
        conda:
            "../../envs/mlser.yaml"
        threads: NEURAL_THREADS
        resources:
            gpu=NEURAL_GPU,
            mem_mb=8000,
            runtime=120,
        params:
            device=NEURAL_DEVICE,
            corpus=LEMER_CORPUS,
            scorings=lambda w: _json(_lemer_fold_scorings(w.fold)),
            max_seconds=config["evaluation"]["max_batch_seconds"],
            keep=LE.get("attention_utterances", 4),
        shell:
            "python -m mlser evaluate-lemer --corpus {params.corpus}"
            " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
            " --scorings {params.scorings:q} --max-batch-seconds {params.max_seconds}"
            " --keep-maps {params.keep} --threads {threads} --device {params.device}"
            " > {log} 2>&1"


rule lemer_score_fusion:
    input:
        inputs=lambda w: [
            f"results/{w.corpus}/experiments/{i}/{w.fold}/predictions.tsv"
            for i in MATRIX[w.experiment]["combines"]
        ],
        unseen_text=unseen_text_input,
    output:
        predictions="results/{corpus}/experiments/{experiment}/{fold}/predictions.tsv",
        metrics="results/{corpus}/experiments/{experiment}/{fold}/metrics.json",
    log:
        "results/logs/lemer_score_fusion/{corpus}/{experiment}/{fold}.log",
    wildcard_constraints:
        experiment=_regex(LEMER_FUSED),
    conda:
        "../../envs/mlser.yaml"
    params:
        unseen=unseen_text_flag,
    shell:
        "python -m mlser lemer-score-fusion --corpus {wildcards.corpus}"
        " --inputs {input.inputs} --experiment-id {wildcards.experiment}"
        " --fold {wildcards.fold} --predictions {output.predictions}"
        " --metrics {output.metrics} {params.unseen} > {log} 2>&1"


rule lemer_sweep_point:
    input:
        unpack(
            lambda w: (
                _lemer_inputs(
                    w.corpus,
                    w.fold,
                    _lemer_stage(LEMER_SWEEPS[w.sweep]["bases"][0], 2),
                )
                if MATRIX[LEMER_SWEEPS[w.sweep]["bases"][0]]["model"].get("stage2")
                else _lemer_inputs(
                    w.corpus,
                    w.fold,
                    _lemer_stage(LEMER_SWEEPS[w.sweep]["bases"][0], 1),
                )
            )
        ),
        init=lambda w: _sweep_init(w.sweep, w.fold),
        pretrained=lambda w: pretrained_for(*LEMER_SWEEPS[w.sweep]["bases"]),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        model="results/{corpus}/lemer/sweeps/{sweep}/{value}/{fold}/model.pt",
        predictions="results/{corpus}/sweeps/{sweep}/{value}/{fold}/predictions.tsv",
        metrics="results/{corpus}/sweeps/{sweep}/{value}/{fold}/metrics.json",
        attention="results/{corpus}/sweeps/{sweep}/{value}/{fold}/attention.json",
    log:
        "results/logs/lemer_sweep_point/{corpus}/{sweep}/{value}/{fold}.log",
    benchmark:
        "results/benchmarks/lemer_sweep_point/{corpus}/{sweep}/{value}/{fold}.tsv"
    wildcard_constraints:
        sweep=_regex(list(LEMER_SWEEPS)),
        value=r"\d+",
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=720,
    params:
        device=NEURAL_DEVICE,
        experiment=lambda w: _json(_sweep_row(w.sweep, w.value)),
        stage=lambda w: (
            2
            if MATRIX[LEMER_SWEEPS[w.sweep]["bases"][0]]["model"].get("stage2")
            else 1
        ),
        models=lambda w: _json(models_for(*LEMER_SWEEPS[w.sweep]["bases"])),
        training=lambda w: _json(get_training(w.corpus, "le_mer", "finetune")),
        history=lambda w: _history(LEMER_SWEEPS[w.sweep]["bases"][0]),
        labels=lambda w, input: _flags(
            {
                k: input[k]
                for k in ("codebook", "keywords", "frame_codes", "init")
                if k in input.keys() and input[k]
            }
        ),
        checkpoints=lambda w: (
            f"results/{w.corpus}/lemer/sweeps/{w.sweep}/{w.value}/{w.fold}/checkpoints/"
            + run_hash(
                models_for(*LEMER_SWEEPS[w.sweep]["bases"]),
                get_training(w.corpus, "le_mer", "finetune"),
                LE_RUN,
            )
        ),
        max_seconds=config["evaluation"]["max_batch_seconds"],
        scorings=lambda w, output: _json(
            [
                {
                    "id": f"{w.sweep}-{w.value}",
                    "model": output.model,
                    "text_history": _history(LEMER_SWEEPS[w.sweep]["bases"][0]),
                    "predictions": output.predictions,
                    "metrics": output.metrics,
                    "attention": output.attention,
                }
            ]
        ),
    # trains and scores in one process: torch's and transformers' imports once
    shell:
        "python -m mlser train-lemer --stage {params.stage} --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --text-history {params.history} {params.labels}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output.model} + evaluate-lemer"
        " --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --scorings {params.scorings:q} --max-batch-seconds {params.max_seconds}"
        " --keep-maps 0 --threads {threads} --device {params.device} > {log} 2>&1"


rule lemer_keyword_tables:
    input:
        lambda w: [
            f"results/{w.corpus}/label_embeddings/{f}/keywords.tsv"
            for f in _lemer_folds_of(w.corpus)
        ],
    output:
        csv="results/{corpus}/tables/lemer_keywords.csv",
        md=report(
            "results/{corpus}/tables/lemer_keywords.md",
            caption="../report/lemer_keywords.rst",
            category="wang2023",
        ),
    log:
        "results/logs/lemer_keyword_tables/{corpus}.log",
    conda:
        "../../envs/mlser.yaml"
    params:
        folds=lambda w: " ".join(_lemer_folds_of(w.corpus)),
        show=LE_TEXT.get("show_k", 9),
    shell:
        "python -m mlser keyword-tables --corpus {wildcards.corpus} --tables {input}"
        " --fold-names {params.folds} --show {params.show}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule figure_wang2023_k_sweep:
    input:
        _sweep_metrics,
    output:
        pdf=report(
            "results/figures/wang2023/fig3_{sweep}.pdf",
            caption="../report/wang2023_fig3.rst",
            category="wang2023",
        ),
        png="results/figures/wang2023/fig3_{sweep}.png",
    log:
        "results/logs/figure_wang2023/fig3_{sweep}.log",
    wildcard_constraints:
        sweep=_regex(list(LEMER_SWEEPS)),
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 k-sweep --inputs {input}"
        " --out results/figures/wang2023/fig3_{wildcards.sweep} > {log} 2>&1"


rule figure_wang2023_attention:
    input:
        lambda w: (
            f"results/{MATRIX[w.experiment]['corpus']}/experiments/{w.experiment}/"
            f"{experiment_folds(w.experiment)[0]}/attention.json"
        ),
    output:
        pdf=report(
            "results/figures/wang2023/fig4_{experiment}.pdf",
            caption="../report/wang2023_fig4.rst",
            category="wang2023",
        ),
        png="results/figures/wang2023/fig4_{experiment}.png",
    log:
        "results/logs/figure_wang2023/fig4_{experiment}.log",
    wildcard_constraints:
        experiment=ids_regex("le_mer"),
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 attention --inputs {input}"
        " --out results/figures/wang2023/fig4_{wildcards.experiment} > {log} 2>&1"


rule figure_wang2023_labels:
    input:
        keywords="results/{corpus}/label_embeddings/{fold}/keywords.tsv",
        codes="results/{corpus}/label_embeddings/{fold}/frame_codes.tsv",
        codebook="results/{corpus}/label_embeddings/{fold}/codebook.npz",
    output:
        pdf=report(
            "results/figures/wang2023/fig1_{corpus}_{fold}.pdf",
            caption="../report/wang2023_fig1.rst",
            category="wang2023",
        ),
        png="results/figures/wang2023/fig1_{corpus}_{fold}.png",
    log:
        "results/logs/figure_wang2023/fig1_{corpus}_{fold}.log",
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 labels"
        " --inputs {input.keywords} {input.codes} {input.codebook}"
        " --out results/figures/wang2023/fig1_{wildcards.corpus}_{wildcards.fold} > {log} 2>&1"
