# The multi-level family (gao2024, gao2025): stage 1, stage 2, scoring per fold.


TARGET_SOURCES.append(multilevel_targets)


rule train_stage1:
    input:
        unpack(acoustic_init),
        pretrained=lambda w: pretrained_for(STAGE1[w.key]),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        "results/{corpus}/stage1/{key}/{fold}/model.pt",
    log:
        "results/logs/train_stage1/{corpus}/{key}/{fold}.log",
    benchmark:
        "results/benchmarks/train_stage1/{corpus}/{key}/{fold}.tsv"
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=1440,
    params:
        device=NEURAL_DEVICE,
        experiment=lambda w: _json(_row(STAGE1[w.key])),
        models=lambda w: _json(models_for(STAGE1[w.key])),
        training=lambda w: _json(get_training(w.corpus, "multilevel", "stage1")),
        checkpoints=lambda w, input: (
            f"results/{w.corpus}/stage1/{w.key}/{w.fold}/checkpoints/"
            + run_hash(
                models_for(STAGE1[w.key]),
                get_training(w.corpus, "multilevel", "stage1"),
                acoustic_init_flag(w, input),
            )
        ),
        init=acoustic_init_flag,
    shell:
        "python -m mlser train-multilevel --stage 1 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --checkpoints {params.checkpoints} {params.init}"
        " --threads {threads} --device {params.device} --out {output} > {log} 2>&1"


rule train_stage2:
    input:
        init=stage2_init,
        bases=lambda w: model_bases(stage2_init(w)),
        pretrained=lambda w: pretrained_for(w.experiment),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        "results/{corpus}/stage2/{experiment}/{fold}/model.pt",
    log:
        "results/logs/train_stage2/{corpus}/{experiment}/{fold}.log",
    benchmark:
        "results/benchmarks/train_stage2/{corpus}/{experiment}/{fold}.tsv"
    wildcard_constraints:
        experiment=ids_regex("multilevel"),
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
        training=lambda w: _json(get_training(w.corpus, "multilevel", "stage2")),
        checkpoints=lambda w: (
            f"results/{w.corpus}/stage2/{w.experiment}/{w.fold}/checkpoints/"
            + run_hash(
                models_for(w.experiment),
                get_training(w.corpus, "multilevel", "stage2"),
                MATRIX[w.experiment]["model"]["stage2"],
            )
        ),
    shell:
        "python -m mlser train-multilevel --stage 2 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --init {input.init}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"


rule evaluate_multilevel:
    input:
        models=lambda w: [s["model"] for s in fold_scorings(w.corpus, w.fold)],
        bases=lambda w: model_bases(
            *(s["model"] for s in fold_scorings(w.corpus, w.fold))
        ),
        pretrained=lambda w: pretrained_for(
            *(s["id"] for s in fold_scorings(w.corpus, w.fold))
        ),
        manifest="results/{corpus}/manifest.tsv",
        folds="results/{corpus}/folds.tsv",
    output:
        directory("results/{corpus}/multilevel_scores/{fold}"),
    log:
        "results/logs/evaluate_multilevel/{corpus}/{fold}.log",
    benchmark:
        "results/benchmarks/evaluate_multilevel/{corpus}/{fold}.tsv"
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=8000,
        runtime=360,
    params:
        device=NEURAL_DEVICE,
        scorings=lambda w: _json(fold_scorings(w.corpus, w.fold)),
        max_seconds=config["evaluation"]["max_batch_seconds"],
    shell:
        "python -m mlser evaluate-multilevel --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --scorings {params.scorings:q} --max-batch-seconds {params.max_seconds}"
        " --threads {threads} --device {params.device} --out {output} > {log} 2>&1"


rule experiment_predictions:
    input:
        scores="results/{corpus}/multilevel_scores/{fold}",
        unseen_text=unseen_text_input,
    output:
        predictions="results/{corpus}/experiments/{experiment}/{fold}/predictions.tsv",
        metrics="results/{corpus}/experiments/{experiment}/{fold}/metrics.json",
    log:
        "results/logs/experiment_predictions/{corpus}/{experiment}/{fold}.log",
    wildcard_constraints:
        experiment="|".join(re.escape(i) for i in PREDICTIONS_OF) or "^$",
    conda:
        "../../envs/mlser.yaml"
    params:
        scored_as=lambda w: PREDICTIONS_OF[w.experiment],
        unseen=unseen_text_flag,
    shell:
        "python -m mlser experiment-predictions --scores {input.scores}"
        " --scored-as {params.scored_as} --experiment-id {wildcards.experiment}"
        " --fold {wildcards.fold} --out-predictions {output.predictions}"
        " --out-metrics {output.metrics} {params.unseen} > {log} 2>&1"


rule experiments_table:
    input:
        experiment_targets(),
    output:
        csv="results/tables/experiments.csv",
        md=report(
            "results/tables/experiments.md",
            caption="../report/experiments.rst",
            category="Experiments",
        ),
    log:
        "results/logs/experiments_table.log",
    conda:
        "../../envs/mlser.yaml"
    params:
        matrix=MATRIX_DIR,
    shell:
        "python -m mlser experiments-table --matrix {params.matrix} --metrics {input}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"
