"""The report's tables and figures: ``experiments-table`` (``workflow/rules/multilevel.smk``),
``paper-table``, ``scorecard``, ``confusion-figure``, ``gate-figure`` and ``fold-breakdown``
(``workflow/rules/report.smk``), ``figures-alqurashi2024`` (``hierarchical.smk``),
``keyword-tables`` and ``figure-wang2023`` (``lemer.smk``), ``rehearsal-report``
(``rehearsal.smk``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlser.cli_args import print_json


def cmd_experiments_table(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.experiments import load_matrix
    from mlser.report.results_table import collect, summarize, to_markdown

    table = summarize(collect(args.metrics), load_matrix(args.matrix))
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, to_markdown(table))
    print(to_markdown(table))
    return 0


def _add_experiments_table(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiments-table", help="our scores beside the papers' numbers")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--metrics", nargs="+", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_experiments_table)


def cmd_paper_table(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.experiments import load_matrix
    from mlser.report import paper_tables

    matrix = load_matrix(args.matrix)
    specs = paper_tables.paper_table_specs(matrix, paper_tables.load_tables(args.matrix))
    spec = next((s for s in specs if (s["paper"], s["number"]) == (args.paper, args.table)), None)
    if spec is None:
        raise SystemExit(f"{args.matrix}: {args.paper} has no results table {args.table}")
    scores = paper_tables.load_scores(args.metrics, spec["metrics"])
    table = paper_tables.build_table(spec, matrix, scores)
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, paper_tables.to_markdown(table, spec))
    write_text(args.out_tex, paper_tables.to_latex(table, spec))
    write_text(args.out_html, paper_tables.to_html(table, spec))
    print(paper_tables.to_markdown(table, spec))
    return 0


def _add_paper_table(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("paper-table", help="one table of a paper: ours beside the paper's")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--paper", required=True)
    p.add_argument("--table", required=True, type=int)
    p.add_argument("--metrics", nargs="*", default=[], type=Path, help="metrics.json files")
    for name in ("csv", "md", "tex", "html"):
        p.add_argument(f"--out-{name}", required=True, type=Path)
    p.set_defaults(func=cmd_paper_table)


def cmd_scorecard(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.data.labels import classes_for
    from mlser.experiments import load_matrix
    from mlser.report import scorecard
    from mlser.report.html_page import markdown_page
    from mlser.report.paper_tables import load_scores

    matrix = load_matrix(args.matrix)
    comparisons = scorecard.load_comparisons(args.comparisons, matrix)
    tables = pd.concat([pd.read_csv(p) for p in args.tables], ignore_index=True)
    compared = {c["metric"] for c in comparisons} - set(scorecard.BOOTSTRAP_METRICS)
    wanted = [*scorecard.BOOTSTRAP_METRICS, *sorted(compared | set(tables["metric"].dropna()))]
    fold_scores = load_scores(args.metrics, list(dict.fromkeys(wanted)))
    predictions = scorecard.group_predictions(args.predictions)
    classes_of = {i: classes_for(e["corpus"]) for i, e in matrix.items()}
    boot_dist = scorecard.bootstrap_distributions(tables, predictions, classes_of, args.n_boot)
    boot_std = scorecard.bootstrap_stds(tables, predictions, classes_of, dists=boot_dist)
    margin = args.equivalence_margin
    cells = scorecard.cell_table(tables, boot_std, margin=margin, boot_dist=boot_dist)
    effects = scorecard.effects_table(
        comparisons, fold_scores, predictions, classes_of, n_boot=args.n_boot, margin=margin
    )
    summary = scorecard.summary(cells, tables)
    markdown = scorecard.to_markdown(summary, cells, effects, margin=margin)
    write_text(args.out_cells, cells.to_csv(index=False))
    write_text(args.out_effects, effects.to_csv(index=False))
    write_text(args.out_md, markdown)
    write_text(args.out_html, markdown_page(markdown, "Reproduction scorecard"))
    print(markdown)
    return 0


def _add_scorecard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scorecard", help="reproduction scorecard across all tables")
    p.add_argument("--matrix", required=True, type=Path, help="config/experiments")
    p.add_argument("--comparisons", required=True, type=Path)
    p.add_argument("--tables", nargs="+", required=True, type=Path, help="paper-table CSVs")
    p.add_argument("--metrics", nargs="*", default=[], type=Path)
    p.add_argument("--predictions", nargs="*", default=[], type=Path)
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument(
        "--equivalence-margin",
        type=float,
        required=True,
        help="TOST margin around the paper's number, as a fraction (0.01 = ±1 point)",
    )
    for name in ("cells", "effects", "md", "html"):
        p.add_argument(f"--out-{name}", required=True, type=Path)
    p.set_defaults(func=cmd_scorecard)


def _panels(spec: dict) -> list[dict]:
    from mlser.report.figures.predictions import read_predictions

    return [
        {**p, "predictions": read_predictions(p["predictions"]) if p["predictions"] else None}
        for p in spec["panels"]
    ]


def cmd_confusion_figure(args: argparse.Namespace) -> int:
    import json

    from mlser.data.labels import classes_for
    from mlser.report.figures.predictions import confusion_figure

    counts = confusion_figure(_panels(json.loads(args.spec)), classes_for(args.corpus), args.out)
    print_json({label: cm.tolist() for label, cm in counts.items()})
    return 0


def cmd_gate_figure(args: argparse.Namespace) -> int:
    import json

    from mlser.data.labels import classes_for
    from mlser.report.figures.predictions import gate_figure

    spec = json.loads(args.spec)
    (panel,) = _panels(spec)
    title = f"{spec['title']}: {panel['experiment']}"
    print_json(gate_figure(panel["predictions"], classes_for(args.corpus), args.out, title))
    return 0


def _add_prediction_figures(sub: argparse._SubParsersAction) -> None:
    for step, func, what in (
        ("confusion-figure", cmd_confusion_figure, "confusion matrices, summed over folds"),
        ("gate-figure", cmd_gate_figure, "kernel density of the fusion gates per emotion"),
    ):
        p = sub.add_parser(step, help=what)
        p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
        p.add_argument("--spec", required=True, help="title and panels (predictions) as JSON")
        p.add_argument("--out", required=True, type=Path, help="file stem (.pdf and .png)")
        p.set_defaults(func=func)


def cmd_fold_breakdown(args: argparse.Namespace) -> int:
    from mlser.atomic import write_text
    from mlser.report.breakdowns import fold_table, to_markdown
    from mlser.report.figures.predictions import per_fold_figure
    from mlser.report.html_page import markdown_page
    from mlser.report.paper_tables import load_scores

    table = fold_table(args.metrics)
    markdown = to_markdown(table, args.corpus)
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_html, markdown_page(markdown, f"{args.corpus}: per fold and class"))
    metric = "UA" if args.corpus == "iemocap" else "WF1"
    scores = load_scores(args.metrics, [metric])
    per_fold_figure(scores, metric, args.out_figure, f"{args.corpus}: {metric} per fold")
    print(markdown)
    return 0


def _add_fold_breakdown(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fold-breakdown", help="per-fold and per-class scores of a corpus")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--metrics", nargs="+", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-html", required=True, type=Path)
    p.add_argument("--out-figure", required=True, type=Path, help="file stem (.pdf and .png)")
    p.set_defaults(func=cmd_fold_breakdown)


def cmd_why_differ(args: argparse.Namespace) -> int:
    import json

    from mlser.atomic import write_text
    from mlser.report.html_page import markdown_page
    from mlser.report.why_differ import row_waterfalls, to_markdown, waterfall_figure, why_table

    table = why_table(json.loads(args.rows))
    markdown = to_markdown(table)
    write_text(args.out_csv, table.to_csv(index=False))
    write_text(args.out_md, markdown)
    write_text(args.out_html, markdown_page(markdown, "Why our number differs"))
    waterfall_figure(table, args.out_figure)
    row_waterfalls(table, args.out_row_figures)
    print(markdown)
    return 0


def _add_why_differ(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("why-differ", help="headline rows re-scored under the usual confounders")
    p.add_argument(
        "--rows", required=True, help="JSON: row -> {metric, paper, runs: {run: {dir, model}}}"
    )
    for name in ("csv", "md", "html"):
        p.add_argument(f"--out-{name}", required=True, type=Path)
    p.add_argument("--out-figure", required=True, type=Path, help="file stem (.pdf and .png)")
    p.add_argument(
        "--out-row-figures", required=True, type=Path, help="folder: <row>.png and .pdf each"
    )
    p.set_defaults(func=cmd_why_differ)


def cmd_figures_alqurashi2024(args: argparse.Namespace) -> int:
    from mlser.report.figures.alqurashi2024 import correction_figure, precision_recall_figure

    correction_figure(args.metrics, args.labels, args.fig2)
    precision_recall_figure(args.predictions, args.labels, args.thresholds, args.fig3)
    return 0


def _add_figures_alqurashi2024(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figures-alqurashi2024", help="alqurashi2024 Fig. 2 and Fig. 3")
    p.add_argument("--metrics", nargs="+", required=True, type=Path, help="speech+text rows")
    p.add_argument("--predictions", nargs="+", required=True, type=Path, help="same rows")
    p.add_argument("--labels", nargs="+", required=True, help="row labels, same order")
    p.add_argument("--thresholds", nargs="+", required=True, type=float, help="marked on Fig. 3")
    p.add_argument("--fig2", required=True, type=Path, help="output stem (.pdf, .png)")
    p.add_argument("--fig3", required=True, type=Path, help="output stem (.pdf, .png)")
    p.set_defaults(func=cmd_figures_alqurashi2024)


def cmd_keyword_tables(args: argparse.Namespace) -> int:
    import pandas as pd

    from mlser.atomic import write_text
    from mlser.data.labels import classes_for
    from mlser.features.label_keywords import keywords_markdown, read_keywords

    tables = {f: read_keywords(p) for f, p in zip(args.fold_names, args.tables, strict=True)}
    k = args.show
    shown = {f: t[t["rank"] <= k] for f, t in tables.items()}
    both = pd.concat([t.assign(fold=f) for f, t in shown.items()], ignore_index=True)
    write_text(args.out_csv, both[["fold", *both.columns[:-1]]].to_csv(index=False))
    write_text(args.out_md, keywords_markdown(shown, classes_for(args.corpus)))
    print(keywords_markdown(shown, classes_for(args.corpus)))
    return 0


def _add_keyword_tables(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keyword-tables", help="LE-MER: keyword tables of folds (CSV + Markdown)")
    p.add_argument("--corpus", required=True, choices=["iemocap", "meld"])
    p.add_argument("--tables", nargs="+", required=True, type=Path)
    p.add_argument("--fold-names", nargs="+", required=True)
    p.add_argument("--show", type=int, default=9, help="keywords shown per class")
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--out-md", required=True, type=Path)
    p.set_defaults(func=cmd_keyword_tables)


def cmd_figure_wang2023(args: argparse.Namespace) -> int:
    from mlser.report.figures import wang2023

    if args.figure == "k-sweep":
        wang2023.k_sweep_figure(args.inputs, args.out)
    elif args.figure == "labels":
        wang2023.labels_figure(*args.inputs[:3], args.out)
    else:
        wang2023.attention_figure(args.inputs[0], args.out)
    return 0


def _add_figure_wang2023(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figure-wang2023", help="wang2023 Figures 1, 3 and 4")
    p.add_argument("figure", choices=["labels", "k-sweep", "attention"])
    p.add_argument("--inputs", nargs="+", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path, help="output stem (.pdf and .png)")
    p.set_defaults(func=cmd_figure_wang2023)


def cmd_rehearsal_report(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from mlser.report import rehearsal

    counts = {}  # corpus -> the rehearsal corpus's utterances
    for path in args.manifests:
        manifest = pd.read_csv(path, sep="\t", keep_default_na=False)
        counts[Path(path).parent.name] = len(manifest)
    full = json.loads(args.full_corpus)
    scale = {c: full[c] / n for c, n in counts.items() if c in full and n > 0}
    records = sorted(args.results.rglob("model.pt.json"))
    trainings = rehearsal.training_table(
        records, json.loads(args.full_epochs), scale, args.full_seeds
    )
    fetched = sorted(args.pretrained.glob("*/.mlser_fetch.json"))
    rehearsal.write_report(
        args.out,
        rehearsal.benchmark_table(args.results / "benchmarks"),
        trainings,
        rehearsal.model_table(fetched),
        args.device,
        json.loads(args.not_run),
    )
    print((args.out / "report.md").read_text())
    return 0


def _add_rehearsal_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rehearsal-report", help="the rehearsal's bill of the full run")
    p.add_argument("--results", required=True, type=Path, help="results/ of the rehearsal")
    p.add_argument("--pretrained", required=True, type=Path, help="resources/pretrained")
    p.add_argument("--manifests", nargs="+", required=True, type=Path)
    p.add_argument("--full-epochs", required=True, help="JSON: training kind -> epochs")
    p.add_argument("--full-corpus", required=True, help="JSON: corpus -> real utterances")
    p.add_argument("--full-seeds", type=int, default=1, help="seeds of the full run")
    p.add_argument("--not-run", default="{}", help="JSON: row -> why it is not run")
    p.add_argument("--device", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_rehearsal_report)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's steps to ``mlser``'s subcommands."""
    _add_experiments_table(sub)
    _add_paper_table(sub)
    _add_scorecard(sub)
    _add_prediction_figures(sub)
    _add_fold_breakdown(sub)
    _add_why_differ(sub)
    _add_figures_alqurashi2024(sub)
    _add_keyword_tables(sub)
    _add_figure_wang2023(sub)
    _add_rehearsal_report(sub)
