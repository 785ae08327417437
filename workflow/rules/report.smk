# Evaluation and report: the papers' tables beside our numbers, the reproduction
# scorecard, figures drawn from predictions, per-fold breakdowns. Each table and figure
# depends only on the metrics / predictions it reads, and is an entry of the report.


rule paper_table:
    input:
        get_paper_table_metrics,
    output:
        csv="results/{corpus}/tables/{paper}_table{number}.csv",
        md="results/{corpus}/tables/{paper}_table{number}.md",
        tex="results/{corpus}/tables/{paper}_table{number}.tex",
        html=report(
            "results/{corpus}/tables/{paper}_table{number}.html",
            caption="../report/paper_table.rst",
            category="{paper}",
            subcategory="Tables",
            labels={"table": "Table {number}", "corpus": "{corpus}"},
        ),
    log:
        "results/logs/paper_table/{corpus}/{paper}_table{number}.log",
    wildcard_constraints:
        paper="gao2024|gao2025|wang2023|alqurashi2024",
        number=r"\d+",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        matrix=MATRIX_DIR,
        made_on=MADE_ON,
    shell:
        "python -m mlser paper-table --matrix {params.matrix} --paper {wildcards.paper}"
        " --table {wildcards.number} --metrics {input} --out-csv {output.csv}"
        " --out-md {output.md} --out-tex {output.tex} --out-html {output.html} > {log} 2>&1"


rule scorecard:
    input:
        tables=get_scorecard_tables,
        metrics=get_scored_metrics,
        predictions=get_scored_predictions,
        comparisons=MATRIX_DIR / "comparisons.yaml",
        # not read: a selection that scored a test utterance stops the scorecard
        passports=get_row_passports,
    output:
        md="results/tables/scorecard.md",
        cells="results/tables/scorecard.cells.csv",
        effects="results/tables/scorecard.effects.csv",
        html=report(
            "results/tables/scorecard.html",
            caption="../report/scorecard.rst",
            category="Scorecard",
        ),
    log:
        "results/logs/scorecard.log",
    benchmark:
        "results/benchmarks/scorecard/scorecard.tsv"
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        matrix=MATRIX_DIR,
        made_on=MADE_ON,
        equivalence_margin=config["scorecard"]["equivalence_margin"],
    shell:
        "python -m mlser scorecard --matrix {params.matrix} --comparisons {input.comparisons}"
        " --tables {input.tables} --metrics {input.metrics} --predictions {input.predictions}"
        " --equivalence-margin {params.equivalence_margin}"
        " --out-md {output.md} --out-cells {output.cells} --out-effects {output.effects}"
        " --out-html {output.html} > {log} 2>&1"


rule why_numbers_differ:
    input:
        get_why_differ_inputs,
    output:
        csv="results/tables/why_numbers_differ.csv",
        md="results/tables/why_numbers_differ.md",
        html=report(
            "results/tables/why_numbers_differ.html",
            caption="../report/why_numbers_differ.rst",
            category="Scorecard",
        ),
        pdf="results/figures/why_numbers_differ.pdf",
        png=report(
            "results/figures/why_numbers_differ.png",
            caption="../report/why_numbers_differ_figure.rst",
            category="Scorecard",
        ),
        rows=report(
            directory("results/figures/why_numbers_differ_rows"),
            patterns=["{row}.png"],
            caption="../report/why_numbers_differ_figure.rst",
            category="Scorecard",
            subcategory="why our number differs, per headline row",
        ),
    log:
        "results/logs/why_numbers_differ.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        rows=get_why_differ_rows,
        made_on=MADE_ON,
    shell:
        "python -m mlser why-differ --rows {params.rows:q} --out-csv {output.csv}"
        " --out-md {output.md} --out-html {output.html}"
        " --out-figure results/figures/why_numbers_differ"
        " --out-row-figures {output.rows} > {log} 2>&1"


rule confusion_figure:
    input:
        get_figure_predictions,
    output:
        pdf="results/figures/{paper}/{figure}.pdf",
        png=report(
            "results/figures/{paper}/{figure}.png",
            caption="../report/figure.rst",
            category="{paper}",
            subcategory="Figures",
        ),
    log:
        "results/logs/figures/{paper}/{figure}.log",
    wildcard_constraints:
        figure=figure_ids("confusion"),
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=get_figure_spec,
        corpus=get_figure_corpus,
        caption=get_figure_caption,
        made_on=MADE_ON,
    shell:
        "python -m mlser confusion-figure --corpus {params.corpus} --spec {params.spec:q}"
        " --out results/figures/{wildcards.paper}/{wildcards.figure} > {log} 2>&1"


rule gate_figure:
    input:
        get_figure_predictions,
    output:
        pdf="results/figures/{paper}/{figure}.pdf",
        png=report(
            "results/figures/{paper}/{figure}.png",
            caption="../report/figure.rst",
            category="{paper}",
            subcategory="Figures",
        ),
    log:
        "results/logs/figures/{paper}/{figure}.log",
    wildcard_constraints:
        figure=figure_ids("gates"),
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=get_figure_spec,
        corpus=get_figure_corpus,
        caption=get_figure_caption,
        made_on=MADE_ON,
    shell:
        "python -m mlser gate-figure --corpus {params.corpus} --spec {params.spec:q}"
        " --out results/figures/{wildcards.paper}/{wildcards.figure} > {log} 2>&1"


rule fold_breakdown:
    input:
        get_corpus_metrics,
    output:
        csv="results/{corpus}/tables/per_fold.csv",
        html=report(
            "results/{corpus}/tables/per_fold.html",
            caption="../report/per_fold.rst",
            category="Breakdowns",
            subcategory="{corpus}",
        ),
        pdf="results/figures/{corpus}/per_fold.pdf",
        png=report(
            "results/figures/{corpus}/per_fold.png",
            caption="../report/per_fold_figure.rst",
            category="Breakdowns",
            subcategory="{corpus}",
        ),
    log:
        "results/logs/fold_breakdown/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        made_on=MADE_ON,
    shell:
        "python -m mlser fold-breakdown --corpus {wildcards.corpus} --metrics {input}"
        " --out-csv {output.csv} --out-html {output.html}"
        " --out-figure results/figures/{wildcards.corpus}/per_fold > {log} 2>&1"


rule row_passport:
    input:
        unpack(get_row_passport_inputs),
        folds=rules.make_folds.output.folds,
        passport=rules.passport.output.json,
    output:
        json="results/{corpus}/passport_rows.json",
        md=report(
            "results/{corpus}/passport_rows.md",
            caption="../report/passport_rows.rst",
            category="Corpora",
            subcategory="{corpus}",
        ),
    log:
        "results/logs/row_passport/{corpus}.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    shell:
        "python -m mlser row-passport --corpus {wildcards.corpus} --folds {input.folds}"
        " --passport {input.passport} --metrics {input.metrics}"
        " --out-json {output.json} --out-md {output.md} > {log} 2>&1"
