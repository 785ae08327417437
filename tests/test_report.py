"""Figures from predictions, the list of every paper figure and table with its rule and
report entry, and the Snakemake report of a finished tiny run opened in headless
Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlser.experiments import load_matrix
from mlser.report.figures.predictions import confusion_figure, gate_figure, read_predictions
from mlser.report.paper_tables import load_tables, paper_table_specs

REPO = Path(__file__).resolve().parents[1]
MATRIX_DIR = REPO / "config" / "experiments"
RULES = REPO / "workflow" / "rules"
CAPTIONS = REPO / "workflow" / "report"
#: The one list of the papers' figures (the families add theirs there).
FIGURES = yaml.safe_load((MATRIX_DIR / "figures.yaml").read_text())["figures"]


def write_predictions(path: Path, gold: list[str], pred: list[str], **extra: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"utt_id": [f"u{i}" for i in range(len(gold))], "gold": gold})
    frame = frame.assign(pred=pred, **extra)
    frame.to_csv(path, sep="\t", index=False)
    return path


def test_confusion_matrices_are_summed_over_folds(tmp_path: Path) -> None:
    s1 = write_predictions(
        tmp_path / "e" / "s1" / "predictions.tsv", ["neu", "hap"], ["neu", "neu"]
    )
    s2 = write_predictions(
        tmp_path / "e" / "s2" / "predictions.tsv", ["neu", "ang", "sad"], ["hap", "ang", "sad"]
    )
    pred = read_predictions([s1, s2])
    assert sorted(pred["fold"].unique()) == ["s1", "s2"]
    panels = [{"label": "(a)", "predictions": pred}, {"label": "(b)", "predictions": None}]
    counts = confusion_figure(panels, ["neu", "hap", "ang", "sad"], tmp_path / "fig")
    # rows gold, columns predicted, order neu hap ang sad
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = expected[1, 0] = expected[0, 1] = expected[2, 2] = expected[3, 3] = 1
    assert set(counts) == {"(a)"}  # the panel not run has no matrix
    np.testing.assert_array_equal(counts["(a)"], expected)
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.pdf").exists()


def test_gate_densities_use_every_utterance_per_emotion(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gold = ["neu"] * 5 + ["hap"] * 4 + ["ang"] * 1
    path = write_predictions(
        tmp_path / "s1" / "predictions.tsv",
        gold,
        gold,
        gate_acoustic=rng.uniform(0, 1, 10).tolist(),
        gate_linguistic=rng.uniform(0, 1, 10).tolist(),
    )
    used = gate_figure(read_predictions([path]), ["neu", "hap", "ang", "sad"], tmp_path / "g", "t")
    assert used["neu"] == {"gate_acoustic": 5, "gate_linguistic": 5}
    assert used["ang"]["gate_acoustic"] == 1 and used["sad"]["gate_linguistic"] == 0
    assert (tmp_path / "g.png").exists()
    # no gate columns: drawn, saying so
    plain = write_predictions(tmp_path / "s2" / "predictions.tsv", ["neu"], ["neu"])
    assert gate_figure(read_predictions([plain]), ["neu"], tmp_path / "h", "t") == {}


def test_a_predictions_file_without_gold_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "predictions.tsv"
    bad.write_text("utt_id\tpred\nu1\tneu\n")
    with pytest.raises(ValueError, match=r"predictions.tsv: no 'gold' column"):
        read_predictions([bad])


# ---------------------------------------------------------------- every table and figure


def rule_bodies() -> dict[str, tuple[str, str]]:
    """Rule name -> (rules file, body)."""
    found = {}
    for smk in sorted(RULES.glob("*.smk")):
        parts = re.split(r"^\s*rule (\w+):\n", smk.read_text(), flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            found[name] = (smk.name, body)
    return found


def report_entries(body: str) -> list[tuple[str, str]]:
    """(output path pattern, caption file) of every report() output of a rule body."""
    return re.findall(r'report\(\s*f?"([^"]+)",\s*caption="\.\./report/([^"]+)"', body)


def test_every_paper_table_has_a_rule_and_a_report_entry() -> None:
    matrix = load_matrix(MATRIX_DIR)
    specs = paper_table_specs(matrix, load_tables(MATRIX_DIR))
    assert len(specs) == 16
    _, body = rule_bodies()["paper_table"]
    (entry,) = report_entries(body)
    assert entry == ("results/{corpus}/tables/{paper}_table{number}.html", "paper_table.rst")
    for ext in ("csv", "md", "tex"):
        assert f'"results/{{corpus}}/tables/{{paper}}_table{{number}}.{ext}"' in body
    assert (CAPTIONS / "paper_table.rst").exists()
    _, scorecard = rule_bodies()["scorecard"]
    assert report_entries(scorecard) == [("results/tables/scorecard.html", "scorecard.rst")]


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f"{f['paper']}-{f['id']}")
def test_every_paper_figure_has_a_rule_and_a_report_entry(figure: dict) -> None:
    assert (RULES / figure["rules_file"]).exists(), figure["rules_file"]
    assert (CAPTIONS / figure["caption"]).exists(), figure["caption"]
    rules = rule_bodies()
    assert figure["rule"] in rules, f"no rule {figure['rule']} for {figure['id']}"
    smk, body = rules[figure["rule"]]
    assert smk == figure["rules_file"]
    entries = report_entries(body)
    assert entries, f"rule {figure['rule']} has no report() output"
    # its own caption, or figure.rst, which shows the figure's caption (report.smk)
    assert {figure["caption"], "figure.rst"} & {c for _, c in entries}
    matrix = load_matrix(MATRIX_DIR)
    for panel in figure["panels"]:
        assert panel["experiment"] in matrix
        assert set(panel) <= {"label", "experiment", "transcripts_from"}, panel
        source = panel.get("transcripts_from")
        if source:  # a text-only row read on a transcribing row's output, same corpus
            e, s = matrix[panel["experiment"]], matrix[source]
            assert e["model"]["inputs"] == ["text"] and "asr" in s["model"]["tasks"], panel
            assert e["corpus"] == s["corpus"]


def test_the_papers_figures_are_all_listed() -> None:
    listed = {(f["paper"], f["figure"]) for f in FIGURES}
    for wanted in [("gao2025", 2), ("gao2025", 3), ("wang2023", 1), ("wang2023", 3)]:
        assert wanted in listed
    for wanted in [("wang2023", 4), ("alqurashi2024", 2), ("alqurashi2024", 3)]:
        assert wanted in listed
    assert ("gao2024", None) in listed  # the CmGI gates, drawn like gao2025 Fig. 3
    assert len({(f["paper"], f["id"]) for f in FIGURES}) == len(FIGURES)


# ---------------------------------------------------------------- the tiny run's report


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(REPO / "config" / "tiny.yaml"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_tiny_run_writes_every_table_and_figure(tiny_run: Path) -> None:
    results = tiny_run / "results"
    for paper, n, corpus in (("gao2025", 1, "iemocap"), ("gao2025", 7, "meld")):
        for ext in ("csv", "md", "tex", "html"):
            assert (results / corpus / "tables" / f"{paper}_table{n}.{ext}").stat().st_size > 0
    table4 = pd.read_csv(results / "iemocap" / "tables" / "gao2025_table4.csv")
    scored = table4[table4["status"] == "scored"]["experiment"].unique().tolist()
    assert scored == ["gao2025-exp14", "gao2025-exp17"]
    for stem in ("gao2025/fig2_confusion", "gao2025/fig3_gates", "gao2024/cmgi_gates"):
        assert (results / "figures" / f"{stem}.png").stat().st_size > 0
        assert (results / "figures" / f"{stem}.pdf").stat().st_size > 0
    effects = pd.read_csv(results / "tables" / "scorecard.effects.csv")
    two_stage = effects.set_index("comparison").loc["gao2025-two-stage-tgf"]
    assert two_stage["folds"] == 1 and two_stage["verdict"] != "not run"
    assert "Reproduction scorecard" in (results / "tables" / "scorecard.md").read_text()
    # why our number differs: every headline row; the multi-level rows' trainings recorded
    # their per-epoch test scores (the bound), LE-MER's record none
    why = pd.read_csv(results / "tables" / "why_numbers_differ.csv").set_index("experiment")
    assert {"gao2025-exp14", "gao2025-exp17", "wang2023-b5"} <= set(why.index)
    assert why.loc["gao2025-exp17", "test_epoch_diff"] >= 0
    assert pd.isna(why.loc["wang2023-b5", "test_epoch_diff"])
    assert (results / "figures" / "why_numbers_differ.png").stat().st_size > 0
    alone = {p.stem for p in (results / "figures" / "why_numbers_differ_rows").glob("*.png")}
    assert alone == set(why.index)


@pytest.mark.slow
def test_a_changed_prediction_file_reruns_exactly_what_reads_it(tiny_run: Path) -> None:
    path = tiny_run / "results/iemocap/experiments/gao2025-exp14/s1/predictions.tsv"
    original, stat = path.read_bytes(), path.stat()
    try:
        # a changed file (Snakemake ignores a touched file whose content is unchanged)
        path.write_bytes(original + b"\n")
        plan = snakemake(tiny_run, "-n", "--cores", "1", "--quiet", "rules")
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = set(re.findall(r"^(\w+)\s+\d+$", plan.stdout + plan.stderr, flags=re.M))
    # Fig. 2 (panel d) and Fig. 3 read exp14's predictions, the scorecard bootstraps them,
    # "why our number differs" pools them (a headline row), the row passport checks their
    # ids; tables read metrics.json only, and the CmGI figure reads another row
    expected = {"confusion_figure", "gate_figure", "scorecard", "why_numbers_differ"}
    expected.add("row_passport")
    assert planned - {"all", "total"} == expected
    one_gate = plan.stdout + plan.stderr
    assert re.search(r"^gate_figure\s+1$", one_gate, flags=re.M), one_gate[-2000:]


BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=10000",
)
# after the report's app has rendered, list every result (every path holds "results/")
SHOW_ALL = """<script>
const mlserTimer = setInterval(() => {
  if (app) { clearInterval(mlserTimer);
             app.setView({navbarMode: "searchresults", searchTerm: "results/"}); }
}, 20);
</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: apt-get install -y chromium"
    cmd = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_report_renders_in_chromium_and_lists_every_table_and_figure(
    tiny_run: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "report.zip"
    made = snakemake(tiny_run, "--report", str(archive))
    assert made.returncode == 0, made.stderr[-3000:]
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path)
    page = tmp_path / "report" / "report.html"
    text = page.read_text()
    end = text.rfind("</body>")
    listing = page.with_name("all.html")
    listing.write_text(text[:end] + SHOW_ALL + text[end:])

    shown = chromium(tmp_path / "profile1", "--dump-dom", listing.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = re.sub(r"<script.*?</script>|<style.*?</style>", "", shown.stdout, flags=re.S)
    assert "Search results" in dom, "the report's app did not render"
    wanted = [
        "results/figures/gao2025/fig2_confusion.png",
        "results/figures/gao2025/fig3_gates.png",
        "results/figures/gao2024/cmgi_gates.png",
        "results/figures/iemocap/per_fold.png",
        "results/tables/scorecard.html",
        "results/tables/why_numbers_differ.html",
        "results/figures/why_numbers_differ.png",
        "results/figures/why_numbers_differ_rows/gao2025-exp17.png",
        "results/iemocap/passport_rows.md",
        "results/iemocap/tables/per_fold.html",
        *(f"results/iemocap/tables/gao2025_table{n}.html" for n in range(1, 7)),
        *(f"results/iemocap/tables/gao2024_table{n}.html" for n in range(1, 4)),
        *(f"results/meld/tables/gao2025_table{n}.html" for n in (7, 8)),
    ]
    missing = [w for w in wanted if w not in dom]
    assert not missing, f"not listed in the rendered report: {missing}"
    # the captions went in with the results (the report's data holds the rendered RST)
    for phrase in ("gao2025 Figure 2", "Reproduction scorecard", "Made on config/tiny.yaml"):
        assert phrase in text, phrase

    shot = tmp_path / "report.png"
    chromium(
        tmp_path / "profile2", "--window-size=1400,1000", f"--screenshot={shot}", listing.as_uri()
    )
    assert shot.stat().st_size > 20_000  # a page with content, not a blank one
    keep = os.environ.get("MLSER_REPORT_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copy(shot, keep)
