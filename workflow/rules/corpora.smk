rule synthesize_corpus:
    output:
        directory(f"{DEMO_CORPORA}/{{corpus}}"),
    log:
        "results/logs/synthesize_corpus/{corpus}.log",
    benchmark:
        "results/benchmarks/synthesize_corpus/{corpus}.tsv"
    priority: 2
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=get_synthesize_spec,
    shell:
        "python -m mlser synthesize {wildcards.corpus} --out {output} --spec {params.spec:q} > {log} 2>&1"


rule prepare_corpus:
    input:
        root=get_corpus_root,
    output:
        manifest="results/{corpus}/manifest.tsv",
        rejects=report(
            "results/{corpus}/rejects.tsv",
            caption="../report/rejects.rst",
            category="Corpora",
            subcategory="{corpus}",
        ),
        summary="results/{corpus}/prepare_summary.json",
    log:
        "results/logs/prepare_corpus/{corpus}.log",
    benchmark:
        "results/benchmarks/prepare_corpus/{corpus}.tsv"
    priority: 2
    conda:
        "../../envs/mlser.yaml"
    threads: config["prepare"]["workers"]
    params:
        options=get_prepare_options,
    shell:
        "python -m mlser prepare {wildcards.corpus} --root {input.root} --out results/{wildcards.corpus}"
        " --workers {threads} {params.options} > {log} 2>&1"


rule make_folds:
    input:
        manifest=rules.prepare_corpus.output.manifest,
    output:
        folds="results/{corpus}/folds.tsv",
    log:
        "results/logs/make_folds/{corpus}.log",
    priority: 2
    conda:
        "../../envs/mlser.yaml"
    params:
        schemes=get_fold_schemes,
        validation=config["folds"]["validation"],
        valid_share=config["folds"]["valid_share"],
        seed=config["folds"]["seed"],
    shell:
        "python -m mlser folds --manifest {input.manifest} --out {output} --schemes {params.schemes}"
        " --validation {params.validation} --valid-share {params.valid_share}"
        " --seed {params.seed} > {log} 2>&1"


rule corpus_counts:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        rejects=unflagged(rules.prepare_corpus.output.rejects),
        folds=rules.make_folds.output.folds,
        summary=rules.prepare_corpus.output.summary,
    output:
        csv="results/{corpus}/tables/corpus_counts.csv",
        md=report(
            "results/{corpus}/tables/corpus_counts.md",
            caption="../report/corpus_counts.rst",
            category="Corpora",
            subcategory="{corpus}",
        ),
    log:
        "results/logs/corpus_counts/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser corpus-counts --manifest {input.manifest} --rejects {input.rejects}"
        " --folds {input.folds} --summary {input.summary} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule passport:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
        rejects=unflagged(rules.prepare_corpus.output.rejects),
        summary=rules.prepare_corpus.output.summary,
        pretrained=sorted(PRETRAINED_FOLDERS.values()),
    output:
        json=report(
            "results/{corpus}/passport.json",
            caption="../report/passport.rst",
            category="Corpora",
            subcategory="{corpus}",
        ),
        md=report(
            "results/{corpus}/passport.md",
            caption="../report/passport.rst",
            category="Corpora",
            subcategory="{corpus}",
        ),
    log:
        "results/logs/passport/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        validation=config["folds"]["validation"],
        valid_share=config["folds"]["valid_share"],
        select_metric=get_select_metric,
        config_digest=CONFIG_DIGEST,
        seeds=config["seeds"],
        test_peek=get_test_peek_flag,
    shell:
        "python -m mlser passport --corpus {wildcards.corpus} --manifest {input.manifest}"
        " --folds {input.folds} --rejects {input.rejects} --summary {input.summary}"
        " --validation {params.validation} --valid-share {params.valid_share}"
        " --select-metric {params.select_metric} --config-digest {params.config_digest}"
        " --seeds {params.seeds} {params.test_peek} --pretrained {input.pretrained}"
        " --unseen-text results/{wildcards.corpus}/unseen_text.tsv"
        " --out-json {output.json} --out-md {output.md} > {log} 2>&1"


# The test utterances of each fold whose transcript the fold's training data lacks, in a
# rule of its own: it depends on the folds alone, not on the config digest the passport
# states, so that what scores on it later is not rerun by an unrelated config change.
rule unseen_text:
    input:
        manifest=rules.prepare_corpus.output.manifest,
        folds=rules.make_folds.output.folds,
    output:
        unseen_text="results/{corpus}/unseen_text.tsv",
    log:
        "results/logs/unseen_text/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser unseen-text --manifest {input.manifest} --folds {input.folds}"
        " --out {output} > {log} 2>&1"
