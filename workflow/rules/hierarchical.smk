# The hierarchical family (alqurashi2024): features once per corpus, each classifier once
# per (corpus, fold, input features), then every Table II row only applies the decision
# rule (with its threshold) to the classifiers' probabilities.


rule extract_acoustic_features:
    input:
        manifest=rules.prepare_corpus.output.manifest,
    output:
        table="results/{corpus}/features/{feature_set}.pt",
        summary="results/{corpus}/features/{feature_set}.json",
    log:
        "results/logs/extract_features/{corpus}/{feature_set}.log",
    benchmark:
        "results/benchmarks/extract_acoustic_features/{corpus}/{feature_set}.tsv"
    wildcard_constraints:
        feature_set="mfcc39_mean|handcrafted8|gemaps|egemaps",
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    # one utterance after another in numpy: a second thread would only sit idle
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "python -m mlser extract-features --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --feature-set {wildcards.feature_set}"
        " --threads {threads} --out {output.table} --summary {output.summary} > {log} 2>&1"


rule extract_word_embeddings:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        pretrained=get_text_encoder_pretrained,
    output:
        table="results/{corpus}/features/text-{encoder}.pt",
        summary="results/{corpus}/features/text-{encoder}.json",
    log:
        "results/logs/extract_features/{corpus}/text-{encoder}.log",
    benchmark:
        "results/benchmarks/extract_word_embeddings/{corpus}/text-{encoder}.tsv"
    wildcard_constraints:
        encoder="[a-z0-9_]+",
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
        text_spec=get_text_encoder_spec,
    shell:
        "python -m mlser extract-word-embeddings --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --encoder {wildcards.encoder}"
        " --text-spec {params.text_spec:q} --threads {threads} --device {params.device}"
        " --out {output.table} --summary {output.summary} > {log} 2>&1"


# The paper fine-tunes wav2vec 2.0's Transformer inside Models 1 and 2; as issue #8 asks,
# the encoder here runs frozen once per corpus and the LSTM classifiers read its frames.
rule extract_ssl_features:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        pretrained=get_acoustic_encoder_pretrained,
    output:
        table="results/{corpus}/features/ssl-{encoder}.pt",
        summary="results/{corpus}/features/ssl-{encoder}.json",
    log:
        "results/logs/extract_features/{corpus}/ssl-{encoder}.log",
    benchmark:
        "results/benchmarks/extract_ssl_features/{corpus}/ssl-{encoder}.tsv"
    wildcard_constraints:
        encoder="[a-z0-9_]+",
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=240,
    params:
        device=NEURAL_DEVICE,
        spec=get_acoustic_encoder_spec,
    shell:
        "python -m mlser extract-ssl-features --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --encoder {wildcards.encoder}"
        " --spec {params.spec:q} --threads {threads} --device {params.device}"
        " --out {output.table} --summary {output.summary} > {log} 2>&1"


rule train_hierarchical:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
        features=get_hierarchical_features,
    output:
        model="results/{corpus}/hierarchical/{fold}/{inputs}/{level}/model.pt",
        probs="results/{corpus}/hierarchical/{fold}/{inputs}/{level}/probs.tsv",
    log:
        "results/logs/train_hierarchical/{corpus}/{fold}/{inputs}/{level}.log",
    benchmark:
        "results/benchmarks/train_hierarchical/{corpus}/{fold}/{inputs}/{level}.tsv"
    wildcard_constraints:
        inputs=r"[a-z0-9_\-]+(\+[a-z0-9_\-]+)*",
        level="level1|level2|text",
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=240,
    params:
        device=NEURAL_DEVICE,
        training=get_hierarchical_training,
        checkpoints=get_hierarchical_checkpoints,
    shell:
        "python -m mlser train-hierarchical --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --level {wildcards.level} --features {input.features}"
        " --training {params.training:q} --checkpoints {params.checkpoints}"
        " --threads {threads}"
        " --device {params.device} --out {output.model} --probs {output.probs} > {log} 2>&1"


rule evaluate_hierarchical:
    input:
        unpack(get_evaluate_hierarchical_input),
    output:
        predictions="results/{corpus}/experiments/{experiment}/{fold}/predictions.tsv",
        metrics="results/{corpus}/experiments/{experiment}/{fold}/metrics.json",
    log:
        "results/logs/evaluate_hierarchical/{corpus}/{experiment}/{fold}.log",
    benchmark:
        "results/benchmarks/evaluate_hierarchical/{corpus}/{experiment}/{fold}.tsv"
    wildcard_constraints:
        experiment=ids_regex("hierarchical"),
    priority: 1
    conda:
        "../../envs/mlser.yaml"
    params:
        threshold=get_hierarchical_threshold,
        text=get_hierarchical_text_flags,
        unseen=get_unseen_text_flag,
    shell:
        "python -m mlser evaluate-hierarchical --corpus {wildcards.corpus}"
        " --manifest {input.manifest} --folds {input.folds} --fold {wildcards.fold}"
        " --experiment-id {wildcards.experiment} --threshold {params.threshold}"
        " --level1 {input.level1} --level2 {input.level2} {params.text}"
        " --models {input.models}"
        " --predictions {output.predictions} --metrics {output.metrics} {params.unseen}"
        " > {log} 2>&1"


rule figures_alqurashi2024:
    input:
        metrics=hier_figure_files("metrics.json"),
        predictions=hier_figure_files("predictions.tsv"),
    output:
        fig2=report(
            f"{HIER_FIGURES}/fig2_text_corrections.png",
            caption="../report/alqurashi2024_fig2.rst",
            category="alqurashi2024",
        ),
        fig2_pdf=f"{HIER_FIGURES}/fig2_text_corrections.pdf",
        fig3=report(
            f"{HIER_FIGURES}/fig3_neutral_precision_recall.png",
            caption="../report/alqurashi2024_fig3.rst",
            category="alqurashi2024",
        ),
        fig3_pdf=f"{HIER_FIGURES}/fig3_neutral_precision_recall.pdf",
    log:
        "results/logs/figures_alqurashi2024.log",
    conda:
        "../../envs/mlser.yaml"
    params:
        labels=get_figure_row_labels,
        thresholds=HIER_THRESHOLDS,
        fig2=get_fig2_stem,
        fig3=get_fig3_stem,
    shell:
        "python -m mlser figures-alqurashi2024 --metrics {input.metrics}"
        " --predictions {input.predictions} --labels {params.labels}"
        " --thresholds {params.thresholds} --fig2 {params.fig2} --fig3 {params.fig3}"
        " > {log} 2>&1"
