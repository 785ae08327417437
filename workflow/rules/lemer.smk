# The LE-MER family (wang2023): label keywords and codebook frames per training fold,
# continued pre-training, fine-tuning, scoring, score fusion, the K sweep, figures.
# mem_mb: the full rehearsal's CPU peaks x1.5 at the papers' sizes (benchmarks/HISTORY.md);
# a GPU job's host memory is lower, and a local run caps them at `--resources mem_mb`.


rule label_keywords:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        keywords="results/{corpus}/label_embeddings/{fold}/keywords.tsv",
    log:
        "results/logs/label_keywords/{corpus}/{fold}.log",
    benchmark:
        "results/benchmarks/label_keywords/{corpus}/{fold}.tsv"
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    params:
        settings=LABEL_KEYWORDS_SETTINGS,
    shell:
        "python -m mlser label-keywords --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --settings {params.settings:q} --out {output} > {log} 2>&1"


rule codebook_frames:
    input:
        pretrained=get_quantizer,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
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
        settings=CODEBOOK_SETTINGS,
        table_k=LE_SPEECH_TABLE_K,
    shell:
        "python -m mlser codebook --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --settings {params.settings:q} --table-k {params.table_k} --threads {threads}"
        " --out-codebook {output.codebook} --out-codes {output.codes} > {log} 2>&1"


rule train_lemer_stage1:
    input:
        unpack(get_lemer_stage1_labels),
        pretrained=get_stage1_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        model_output("results/{corpus}/lemer/stage1/{key}/{fold}/model.pt"),
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
        mem_mb=24000,
        runtime=1440,
    params:
        device=NEURAL_DEVICE,
        experiment=get_stage1_row,
        models=get_stage1_models,
        training=get_lemer_stage1_training,
        history=get_lemer_stage1_history,
        labels=get_label_flags,
        checkpoints=get_lemer_stage1_checkpoints,
    shell:
        "python -m mlser train-lemer --stage 1 --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment {params.experiment:q} --models {params.models:q}"
        " --training {params.training:q} --text-history {params.history} {params.labels}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"


rule train_lemer_stage2:
    input:
        unpack(get_lemer_stage2_labels),
        init=get_lemer_stage2_init,
        pretrained=get_experiment_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        model_output("results/{corpus}/lemer/stage2/{experiment}/{fold}/model.pt"),
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
        mem_mb=34000,
        runtime=720,
    params:
        device=NEURAL_DEVICE,
        experiment=get_experiment_row,
        models=get_experiment_models,
        training=get_lemer_finetune_training,
        history=get_lemer_history,
        labels=get_label_flags,
        checkpoints=get_lemer_stage2_checkpoints,
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
            models=get_lemer_scored_models,
            bases=get_lemer_scored_bases,
            pretrained=get_lemer_scored_pretrained,
            manifest=corpus_file(rules.prepare_corpus.output.manifest, LEMER_CORPUS),
            folds=corpus_file(rules.make_folds.output.folds, LEMER_CORPUS),
            unseen_text=get_lemer_unseen_text,
        output:
            lemer_scored_outputs("{fold}"),
        log:
            f"results/logs/evaluate_lemer/{LEMER_CORPUS}/{{fold}}.log",
        benchmark:
            f"results/benchmarks/evaluate_lemer/{LEMER_CORPUS}/{{fold}}.tsv"
        wildcard_constraints:
            fold=alternatives(LEMER_SCORED_FOLDS),
        priority: 1
        conda:
            "../../envs/mlser.yaml"
        threads: NEURAL_THREADS
        resources:
            gpu=NEURAL_GPU,
            mem_mb=10000,
            runtime=120,
        params:
            device=NEURAL_DEVICE,
            corpus=LEMER_CORPUS,
            scorings=get_lemer_scorings,
            max_seconds=config["evaluation"]["max_batch_seconds"],
            keep=LE_ATTENTION_UTTERANCES,
        shell:
            "python -m mlser evaluate-lemer --corpus {params.corpus}"
            " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
            " --scorings {params.scorings:q} --max-batch-seconds {params.max_seconds}"
            " --keep-maps {params.keep} --threads {threads} --device {params.device}"
            " > {log} 2>&1"


rule lemer_score_fusion:
    input:
        inputs=get_fusion_inputs,
        unseen_text=get_unseen_text,
    output:
        predictions="results/{corpus}/experiments/{experiment}/{fold}/predictions.tsv",
        metrics="results/{corpus}/experiments/{experiment}/{fold}/metrics.json",
    log:
        "results/logs/lemer_score_fusion/{corpus}/{experiment}/{fold}.log",
    wildcard_constraints:
        experiment=alternatives(LEMER_FUSED),
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        unseen=get_unseen_text_flag,
    shell:
        "python -m mlser lemer-score-fusion --corpus {wildcards.corpus}"
        " --inputs {input.inputs} --experiment-id {wildcards.experiment}"
        " --fold {wildcards.fold} --predictions {output.predictions}"
        " --metrics {output.metrics} {params.unseen} > {log} 2>&1"


rule lemer_sweep_point:
    input:
        unpack(get_sweep_labels),
        init=get_sweep_init,
        pretrained=get_sweep_pretrained,
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        model=model_output(
            "results/{corpus}/lemer/sweeps/{sweep}/{value}/{fold}/model.pt"
        ),
        predictions="results/{corpus}/sweeps/{sweep}/{value}/{fold}/predictions.tsv",
        metrics="results/{corpus}/sweeps/{sweep}/{value}/{fold}/metrics.json",
        attention="results/{corpus}/sweeps/{sweep}/{value}/{fold}/attention.json",
    log:
        "results/logs/lemer_sweep_point/{corpus}/{sweep}/{value}/{fold}.log",
    benchmark:
        "results/benchmarks/lemer_sweep_point/{corpus}/{sweep}/{value}/{fold}.tsv"
    wildcard_constraints:
        sweep=alternatives(LEMER_SWEEPS),
        value=r"\d+",
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=31000,
        runtime=720,
    params:
        device=NEURAL_DEVICE,
        experiment=get_sweep_row,
        stage=get_sweep_stage,
        models=get_sweep_models,
        training=get_lemer_finetune_training,
        history=get_sweep_history,
        labels=get_sweep_label_flags,
        checkpoints=get_sweep_checkpoints,
        max_seconds=config["evaluation"]["max_batch_seconds"],
        scorings=get_sweep_scorings,
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
        get_keyword_tables,
    output:
        csv="results/{corpus}/tables/lemer_keywords.csv",
        md=report(
            "results/{corpus}/tables/lemer_keywords.md",
            caption="../report/lemer_keywords.rst",
            category="wang2023",
        ),
    log:
        "results/logs/lemer_keyword_tables/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        folds=get_keyword_table_folds,
        show=LE_TEXT_SHOW_K,
    shell:
        "python -m mlser keyword-tables --corpus {wildcards.corpus} --tables {input}"
        " --fold-names {params.folds} --show {params.show}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule figure_wang2023_k_sweep:
    input:
        get_sweep_metrics,
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
        sweep=alternatives(LEMER_SWEEPS),
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 k-sweep --inputs {input}"
        " --out results/figures/wang2023/fig3_{wildcards.sweep} > {log} 2>&1"


rule figure_wang2023_attention:
    input:
        get_attention_maps,
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
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 attention --inputs {input}"
        " --out results/figures/wang2023/fig4_{wildcards.experiment} > {log} 2>&1"


rule figure_wang2023_labels:
    input:
        keywords=rules.label_keywords.output.keywords,
        codes=rules.codebook_frames.output.codes,
        codebook=rules.codebook_frames.output.codebook,
    output:
        pdf=report(
            "results/figures/wang2023/fig1_{corpus}_{fold}.pdf",
            caption="../report/wang2023_fig1.rst",
            category="wang2023",
        ),
        png="results/figures/wang2023/fig1_{corpus}_{fold}.png",
    log:
        "results/logs/figure_wang2023/fig1_{corpus}_{fold}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser figure-wang2023 labels"
        " --inputs {input.keywords} {input.codes} {input.codebook}"
        " --out results/figures/wang2023/fig1_{wildcards.corpus}_{wildcards.fold} > {log} 2>&1"
