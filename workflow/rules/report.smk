# Evaluation and report: the papers' tables beside our numbers, the reproduction
# scorecard, figures drawn from predictions, per-fold breakdowns. Each table and figure
# depends only on the metrics / predictions it reads, and is an entry of the report.

import yaml

from mlser.report.paper_tables import load_tables, paper_table_specs

# the papers' results tables on the enabled corpora that hold a row of a family this
# config runs (rows not run are listed in them, with the reason)
TABLE_SPECS = [
    s
    for s in paper_table_specs(MATRIX, load_tables(MATRIX_DIR))
    if s["corpus"] in CORPORA
    and any(
        MATRIX[i]["model"]["family"] in config["experiments"]["families"]
        for i in s["rows"]
    )
]
# figures.yaml lists every paper figure; this file draws those of kind confusion/gates
FIGURES = {
    f"{f['paper']}/{f['id']}": f
    for f in yaml.safe_load((MATRIX_DIR / "figures.yaml").read_text())["figures"]
}


# "config/config.yaml (synthetic demo corpora)": what the captions say a run was made on
MADE_ON = ", ".join(
    _config_name(f) for f in workflow.overwrite_configfiles or workflow.configfiles
) + (
    " (synthetic demo corpora)"
    if any(config["corpora"][c].get("synthesize") is not None for c in CORPORA)
    else " (the corpora named there)"
)


TARGET_SOURCES.append(report_targets)


rule paper_table:
    input:
        _table_rows,
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
        tables=[
            f"results/{s['corpus']}/tables/{s['paper']}_table{s['number']}.csv"
            for s in TABLE_SPECS
        ],
        metrics=[f"{d}/metrics.json" for i in EXPERIMENTS for d in _scored(i)],
        predictions=[f"{d}/predictions.tsv" for i in EXPERIMENTS for d in _scored(i)],
        comparisons=MATRIX_DIR / "comparisons.yaml",
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
        "results/benchmarks/scorecard.tsv"
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


rule confusion_figure:
    input:
        _figure_predictions,
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
        figure=_figure_ids("confusion"),
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=lambda w: _json(_figure_spec(w)),
        corpus=lambda w: _figure_corpus(FIGURES[f"{w.paper}/{w.figure}"]),
        caption=lambda w: _figure_caption(w),
        made_on=MADE_ON,
    shell:
        "python -m mlser confusion-figure --corpus {params.corpus} --spec {params.spec:q}"
        " --out results/figures/{wildcards.paper}/{wildcards.figure} > {log} 2>&1"


rule gate_figure:
    input:
        _figure_predictions,
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
        figure=_figure_ids("gates"),
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=lambda w: _json(_figure_spec(w)),
        corpus=lambda w: _figure_corpus(FIGURES[f"{w.paper}/{w.figure}"]),
        caption=lambda w: _figure_caption(w),
        made_on=MADE_ON,
    shell:
        "python -m mlser gate-figure --corpus {params.corpus} --spec {params.spec:q}"
        " --out results/figures/{wildcards.paper}/{wildcards.figure} > {log} 2>&1"


rule fold_breakdown:
    input:
        lambda w: [
            f"{d}/metrics.json"
            for i in EXPERIMENTS
            if MATRIX[i]["corpus"] == w.corpus
            for d in _scored(i)
        ],
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
    conda:
        "../../envs/mlser.yaml"
    params:
        made_on=MADE_ON,
    shell:
        "python -m mlser fold-breakdown --corpus {wildcards.corpus} --metrics {input}"
        " --out-csv {output.csv} --out-html {output.html}"
        " --out-figure results/figures/{wildcards.corpus}/per_fold > {log} 2>&1"
