# Functions and settings of the report's rules (report.smk): the papers' tables this run
# fills, the figures of figures.yaml, what the captions say a run was made on, table
# rows, figure specs, its targets.

import yaml

from mlser.report.paper_tables import load_tables, paper_table_specs


def _config_name(path):
    """A config file as the user knows it: relative to the workflow where it is inside."""
    path = Path(path).resolve()
    base = Path(workflow.basedir).resolve()
    return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)


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
# figures.yaml lists every paper figure; report.smk draws those of kind confusion/gates
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


def figure_ids(kind):
    """A wildcard constraint matching the figures of one kind (confusion, gates)."""
    return alternatives(f["id"] for f in FIGURES.values() if f["kind"] == kind)


def _scored(exp_id, runs=experiment_folds):
    """The metrics.json / predictions.tsv folders of a selected experiment (none if not),
    of every run or of ``runs(exp_id)``."""
    if exp_id not in EXPERIMENTS:
        return []
    return [experiment_dir(exp_id, run) for run in runs(exp_id)]


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
    if HEADLINE_ROWS:
        targets += [
            f"results/tables/why_numbers_differ.{e}" for e in ("csv", "md", "html")
        ]
        targets += [f"results/figures/why_numbers_differ.{e}" for e in ("png", "pdf")]
        targets.append("results/figures/why_numbers_differ_rows")
    for key, f in FIGURES.items():
        if f["rules_file"] == "report.smk" and _figure_corpus(f) in CORPORA:
            targets += [f"results/figures/{key}.{ext}" for ext in ("png", "pdf")]
    for corpus in CORPORA:
        if any(MATRIX[i]["corpus"] == corpus for i in EXPERIMENTS):
            targets += [
                f"results/{corpus}/tables/per_fold.csv",
                f"results/{corpus}/tables/per_fold.html",
                f"results/figures/{corpus}/per_fold.png",
                f"results/{corpus}/passport_rows.md",
            ]
    return targets


TARGET_SOURCES.append(report_targets)


# ---------------------------------------------------------------- paper_table, scorecard


def get_paper_table_metrics(wildcards):
    """The metrics of the rows of one paper table that this run scores."""
    spec = next(
        s
        for s in TABLE_SPECS
        if (s["paper"], str(s["number"])) == (wildcards.paper, wildcards.number)
    )
    return [f"{d}/metrics.json" for i in spec["rows"] for d in _scored(i)]


def get_scorecard_tables(wildcards):
    """Every paper table's CSV (rule paper_table)."""
    return [
        expand(
            rules.paper_table.output.csv,
            corpus=s["corpus"],
            paper=s["paper"],
            number=s["number"],
        )[0]
        for s in TABLE_SPECS
    ]


def get_row_passports(wildcards):
    """The corpora's row passports: the scorecard waits for their checks."""
    return [
        f"results/{c}/passport_rows.json"
        for c in CORPORA
        if any(MATRIX[i]["corpus"] == c for i in EXPERIMENTS)
    ]


def get_scored_metrics(wildcards):
    return [f"{d}/metrics.json" for i in EXPERIMENTS for d in _scored(i)]


def get_scored_predictions(wildcards):
    return [f"{d}/predictions.tsv" for i in EXPERIMENTS for d in _scored(i)]


# ---------------------------------------------------------------- why_numbers_differ


def _headline_rows():
    """Selected rows a headline comparison names -> its metric (the first, where several)."""
    found = {}
    for c in yaml.safe_load((MATRIX_DIR / "comparisons.yaml").read_text())[
        "comparisons"
    ]:
        for key in ("baseline", "treatment"):
            if c.get("headline") and c[key] in EXPERIMENTS:
                if c["metric"] in ("UA", "WA", "WF1"):
                    found.setdefault(c[key], c["metric"])
    return dict(sorted(found.items()))


HEADLINE_ROWS = _headline_rows()


def _final_model(exp_id, run):
    """A multi-level row's final model, whose training record holds its per-epoch test
    scores (`test_peek`); None for the families that record none."""
    e = MATRIX[exp_id]
    if e["model"]["family"] != "multilevel":
        return None
    return final_model(model_owner(e, MATRIX), run)


def _why_differ_rows():
    """Each headline row's metric, paper number and runs (results folder, final model)."""
    return {
        i: {
            "metric": metric,
            "paper": MATRIX[i].get("paper_results", {}).get(metric),
            "runs": {
                run: {"dir": experiment_dir(i, run), "model": _final_model(i, run)}
                for run in experiment_folds(i)
            },
        }
        for i, metric in HEADLINE_ROWS.items()
    }


def get_why_differ_inputs(wildcards):
    files = []
    for row in _why_differ_rows().values():
        for run in row["runs"].values():
            files += [f"{run['dir']}/{n}" for n in ("metrics.json", "predictions.tsv")]
            files += [run["model"]] if run["model"] else []
    return list(dict.fromkeys(files))


def get_why_differ_rows(wildcards):
    return _json(_why_differ_rows())


# ---------------------------------------------------------------- confusion_figure, gate_figure


def _panel_predictions(panel):
    """A panel's predictions.tsv of every fold under the first seed (a figure summed
    over folds would count each utterance once per seed): its row's, or its text-only
    row's on the ASR transcripts of row ``transcripts_from`` (rule evaluate_on_transcripts).
    """
    exp_id, source = panel["experiment"], panel.get("transcripts_from")
    if source is None:
        return [f"{d}/predictions.tsv" for d in _scored(exp_id, first_seed_runs)]
    return [
        f"{on_transcripts_dir(exp_id, source, run)}/predictions.tsv"
        for run in on_transcripts_runs(exp_id, source)
    ]


def _figure_spec(wildcards):
    """A paper figure's panels, each with its predictions (:func:`_panel_predictions`)."""
    f = FIGURES[f"{wildcards.paper}/{wildcards.figure}"]
    panels = [{**p, "predictions": _panel_predictions(p)} for p in f["panels"]]
    return {"title": f["title"], "panels": panels}


def get_figure_predictions(wildcards):
    return [
        path for p in _figure_spec(wildcards)["panels"] for path in p["predictions"]
    ]


def get_figure_spec(wildcards):
    return _json(_figure_spec(wildcards))


def get_figure_corpus(wildcards):
    return _figure_corpus(FIGURES[f"{wildcards.paper}/{wildcards.figure}"])


def get_figure_caption(wildcards):
    """The figure's own caption (workflow/report/<caption>), shown by figure.rst."""
    f = FIGURES[f"{wildcards.paper}/{wildcards.figure}"]
    return (Path(workflow.basedir) / "workflow" / "report" / f["caption"]).read_text()


# ---------------------------------------------------------------- fold_breakdown, row_passport


def _corpus_dirs(corpus):
    return [d for i in EXPERIMENTS if MATRIX[i]["corpus"] == corpus for d in _scored(i)]


def get_corpus_metrics(wildcards):
    """The metrics of every selected row of the corpus, each run."""
    return [f"{d}/metrics.json" for d in _corpus_dirs(wildcards.corpus)]


def get_row_passport_inputs(wildcards):
    """Each run's metrics and predictions, and the metrics of the rows a score fusion
    combines (whose models the fusion's numbers come from; selected or not)."""
    combined = {
        f"{experiment_dir(c, run, corpus=wildcards.corpus)}/metrics.json"
        for i in EXPERIMENTS
        if MATRIX[i]["corpus"] == wildcards.corpus
        for c in MATRIX[i].get("combines") or []
        for run in experiment_folds(i)
    }
    return {
        "metrics": get_corpus_metrics(wildcards),
        "predictions": [f"{d}/predictions.tsv" for d in _corpus_dirs(wildcards.corpus)],
        "combined": sorted(combined),
    }
