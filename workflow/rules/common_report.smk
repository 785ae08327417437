# Functions of the report's rules (report.smk): table rows, figure specs and
# captions, its targets. TABLE_SPECS, FIGURES and MADE_ON are set in report.smk.


def _config_name(path):
    """A config file as the user knows it: relative to the workflow where it is inside."""
    path = Path(path).resolve()
    base = Path(workflow.basedir).resolve()
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


def _figure_ids(kind):
    return (
        "|".join(re.escape(f["id"]) for f in FIGURES.values() if f["kind"] == kind)
        or "^$"
    )


def _scored(exp_id):
    """The metrics.json / predictions.tsv folders of a selected experiment (none if not)."""
    if exp_id not in EXPERIMENTS:
        return []
    corpus = MATRIX[exp_id]["corpus"]
    return [
        f"results/{corpus}/experiments/{exp_id}/{fold}"
        for fold in experiment_folds(exp_id)
    ]


def _figure_corpus(figure):
    return MATRIX[figure["panels"][0]["experiment"]]["corpus"]


def report_targets():
    targets = [
        f"results/{s['corpus']}/tables/{s['paper']}_table{s['number']}.{ext}"
        for s in TABLE_SPECS
        for ext in ("csv", "md", "tex", "html")
    ]
    targets += [
        f"results/tables/scorecard.{ext}"
        for ext in ("md", "html", "cells.csv", "effects.csv")
    ] * bool(TABLE_SPECS)
    for key, f in FIGURES.items():
        if f["rules_file"] == "report.smk" and _figure_corpus(f) in CORPORA:
            targets += [f"results/figures/{key}.{ext}" for ext in ("png", "pdf")]
    for corpus in CORPORA:
        if any(MATRIX[i]["corpus"] == corpus for i in EXPERIMENTS):
            targets += [
                f"results/{corpus}/tables/per_fold.csv",
                f"results/{corpus}/tables/per_fold.html",
                f"results/figures/{corpus}/per_fold.png",
            ]
    return targets


def _table_rows(wildcards):
    spec = next(
        s
        for s in TABLE_SPECS
        if (s["paper"], str(s["number"])) == (wildcards.paper, wildcards.number)
    )
    return [f"{d}/metrics.json" for i in spec["rows"] for d in _scored(i)]


def _figure_spec(wildcards):
    f = FIGURES[f"{wildcards.paper}/{wildcards.figure}"]
    panels = [
        {**p, "predictions": [f"{d}/predictions.tsv" for d in _scored(p["experiment"])]}
        for p in f["panels"]
    ]
    return {"title": f["title"], "panels": panels}


def _figure_caption(wildcards):
    """The figure's own caption (workflow/report/<caption>), shown by figure.rst."""
    f = FIGURES[f"{wildcards.paper}/{wildcards.figure}"]
    return (Path(workflow.basedir) / "workflow" / "report" / f["caption"]).read_text()


def _figure_predictions(wildcards):
    return [
        path for p in _figure_spec(wildcards)["panels"] for path in p["predictions"]
    ]
