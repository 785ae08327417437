# The multi-level family (gao2024, gao2025): stage 1, stage 2, scoring per fold.
# mem_mb: the full rehearsal's CPU peaks x1.5 at the papers' sizes (benchmarks/HISTORY.md);
# a GPU job's host memory is lower, and a local run caps them at `--resources mem_mb`.


rule train_stage1:
    input:
        unpack(get_acoustic_init),
        pretrained=get_stage1_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        model_output("results/{corpus}/stage1/{key}/{fold}/model.pt"),
    log:
        "results/logs/train_stage1/{corpus}/{key}/{fold}.log",
    benchmark:
        "results/benchmarks/train_stage1/{corpus}/{key}/{fold}.tsv"
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=20000,
        runtime=1440,
    params:
        device=NEURAL_DEVICE,
        experiment=get_stage1_row,
        models=get_stage1_models,
        training=get_multilevel_stage1_training,
        checkpoints=get_train_stage1_checkpoints,
        init=get_acoustic_init_flag,
    shell:
        "python -m mlser train-multilevel --stage 1 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --checkpoints {params.checkpoints} {params.init}"
        " --threads {threads} --device {params.device} --out {output} > {log} 2>&1"


rule train_stage2:
    input:
        init=get_stage2_init,
        bases=get_stage2_init_bases,
        pretrained=get_experiment_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        model_output("results/{corpus}/stage2/{experiment}/{fold}/model.pt"),
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
        mem_mb=21000,
        runtime=720,
    params:
        device=NEURAL_DEVICE,
        experiment=get_experiment_row,
        models=get_experiment_models,
        training=get_multilevel_stage2_training,
        checkpoints=get_train_stage2_checkpoints,
    shell:
        "python -m mlser train-multilevel --stage 2 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --init {input.init}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"


rule evaluate_multilevel:
    input:
        models=get_multilevel_scored_models,
        bases=get_multilevel_scored_bases,
        pretrained=get_multilevel_scored_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
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
        scorings=get_multilevel_scorings,
        max_seconds=config["evaluation"]["max_batch_seconds"],
    shell:
        "python -m mlser evaluate-multilevel --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --scorings {params.scorings:q} --max-batch-seconds {params.max_seconds}"
        " --threads {threads} --device {params.device} --out {output} > {log} 2>&1"


# A text-only row's model on another row's ASR transcripts (gao2025 Fig. 2(b): BERT,
# trained on the ground truth, reads HuBERT's transcripts); drawn, not tabled.
rule evaluate_on_transcripts:
    input:
        model=get_on_transcripts_model,
        bases=get_on_transcripts_bases,
        pretrained=get_on_transcripts_pretrained,
        transcripts=get_transcripts_of,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        predictions="results/{corpus}/on_transcripts/{experiment}/{source}/{fold}/predictions.tsv",
        metrics="results/{corpus}/on_transcripts/{experiment}/{source}/{fold}/metrics.json",
    log:
        "results/logs/evaluate_on_transcripts/{corpus}/{experiment}/{source}/{fold}.log",
    benchmark:
        "results/benchmarks/evaluate_on_transcripts/{corpus}/{experiment}/{source}/{fold}.tsv"
    wildcard_constraints:
        experiment=ids_regex("multilevel"),
        source=ids_regex("multilevel"),
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=8000,
        runtime=60,
    params:
        device=NEURAL_DEVICE,
        max_seconds=config["evaluation"]["max_batch_seconds"],
    shell:
        "python -m mlser evaluate-on-transcripts --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --model {input.model} --transcripts {input.transcripts}"
        " --experiment-id {wildcards.experiment} --transcripts-of {wildcards.source}"
        " --max-batch-seconds {params.max_seconds}"
        " --threads {threads} --device {params.device}"
        " --out-predictions {output.predictions} --out-metrics {output.metrics} > {log} 2>&1"


rule experiment_predictions:
    input:
        scores=unflagged(rules.evaluate_multilevel.output[0]),
        unseen_text=get_unseen_text,
    output:
        predictions="results/{corpus}/experiments/{experiment}/{fold}/predictions.tsv",
        metrics="results/{corpus}/experiments/{experiment}/{fold}/metrics.json",
    log:
        "results/logs/experiment_predictions/{corpus}/{experiment}/{fold}.log",
    wildcard_constraints:
        experiment=alternatives(PREDICTIONS_OF),
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        scored_as=get_scored_as,
        unseen=get_unseen_text_flag,
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
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        matrix=MATRIX_DIR,
    shell:
        "python -m mlser experiments-table --matrix {params.matrix} --metrics {input}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"
