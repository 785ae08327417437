"""The experiment matrix (config/experiments/<paper>.yaml): every printed table row of the
four papers is one named experiment, valid against config/experiments/schema.yaml, with the
paper's own numbers beside it and its shared stage-1 checkpoint detectable by key.

The row structure below (PAPER_STRUCTURE, ROW_COUNTS) was counted from the papers' text
(/work/shared/papers/*.txt); it is the reference the YAML files are held to.
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from mlser.experiments import load_matrix, model_owner, select, stage1_key, trained

REPO = Path(__file__).resolve().parents[1]
EXP_DIR = REPO / "config" / "experiments"
SCHEMA_PATH = EXP_DIR / "schema.yaml"
PAPERS = ("gao2024", "gao2025", "wang2023", "alqurashi2024")
LINKS = ("same_run_as", "reprints", "init_from", "shares_stage1_with", "reuses_models_of")


def _alqurashi_table2() -> list[str]:
    """Reconstructed: 3 speech classifiers x 2 settings x {S, ST, ST + 4 thresholds}."""
    labels = []
    for setting in ("D", "I"):
        for clf in ("LSTM", "w2v", "w2vASR"):
            labels += [f"{clf}-S-{setting}", f"{clf}-ST-{setting}"]
            labels += [
                f"{clf}-ST-{setting} (threshold {t})" for t in ("0.25", "0.30", "0.35", "0.40")
            ]
    return labels


# Row labels of every results table, top to bottom, as printed (extraction fixes noted in the YAML).
PAPER_STRUCTURE: dict[str, dict[int, list[str]]] = {
    "gao2024": {
        1: ["1", "2", "3[19]", "4[5]", "5 [20]", "6 [18]", "7 (Ours)", "8", "9", "10"],
        2: [
            "Self-attention",
            "/w gated fusion",
            "Cross-modal attention",
            "/w gated fusion",
            "CmGI",
            "w/o temporal gated fusion",
        ],
        3: [
            "Pepino et al. [11]",
            "Santoso [20]",
            "Zou et al. [31]",
            "Ioannide et al. [32]",
            "Kyung et al. [33]",
            "Gao et al. [34]",
            "(Ours)",
        ],
    },
    # Exp-1 .. Exp-37, numbered across the eight tables.
    "gao2025": {
        1: [str(i) for i in range(1, 5)],
        2: [str(i) for i in range(5, 9)],
        3: [str(i) for i in range(9, 13)],
        4: [str(i) for i in range(13, 19)],
        5: [str(i) for i in range(19, 25)],
        6: [str(i) for i in range(25, 30)],
        7: [str(i) for i in range(30, 34)],
        8: [str(i) for i in range(34, 38)],
    },
    "wang2023": {
        1: ["A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5"],
        2: [
            "Chen et al. [7]",
            "Chen et al. [28]",
            "Hou et al. [29]",
            "Wu et al. [26]",
            "Santoso et al. [30]",
            "Li et al. [6]",
            "Our Score Fusion",
            "Ours",
        ],
        3: ["C1", "C2", "C3", "C4"],
    },
    "alqurashi2024": {
        # Table I holds example sentences, no experiments.
        2: _alqurashi_table2(),
        3: [
            "SVM tree ensembles [29]",
            "E -vector + MCNN + LSTM [26]",
            "(ENC1) + (ENC2)[27]",
            "Late Fusion-III [28]",
            "ACO(+)Cepstrum(+) Cepstral-BoW+GSV-mean (+) Lex-BoW (+) Lex-eVector [30]",
            "ASR-SER (Hierarchical co-attention) [31]",
            "Ours (SD)W2v-ST-D",
            "Ours (SI)W2v-ST-I",
        ],
    },
}

# Rows per table as counted in the papers. alqurashi2024 Table II: its body is missing from
# the text; 36 is the reconstruction, not a printed count (the YAML says rows_printed: null).
ROW_COUNTS: dict[str, dict[int, int]] = {
    "gao2024": {1: 10, 2: 6, 3: 7},
    "gao2025": {1: 4, 2: 4, 3: 4, 4: 6, 5: 6, 6: 5, 7: 4, 8: 4},
    "wang2023": {1: 10, 2: 8, 3: 4},
    "alqurashi2024": {1: 0, 2: 36, 3: 8},
}

# Stage-1 checkpoints the papers share (root, then the experiments trained from it).
SHARED_STAGE1: list[tuple[str, list[str]]] = [
    # gao2024 §3.2: HuBERT fine-tuned for SER+ASR first, then HuBERT + BERT together.
    (
        "gao2024-t1-exp02",
        [
            "gao2024-t1-exp07",
            "gao2024-t1-exp10",
            "gao2024-t2-self-attention",
            "gao2024-t2-self-attention-gated",
            "gao2024-t2-cross-attention",
            "gao2024-t2-cross-attention-gated",
            "gao2024-t2-cmgi",
            "gao2024-t2-cmgi-wo-tgf",
            "gao2024-t3-ours",
            "gao2025-exp02",
        ],
    ),
    # gao2025: the one-stage multi-level model is stage 1 of the two-stage rows.
    (
        "gao2025-exp13",
        [
            "gao2025-exp10",
            "gao2025-exp15",
            "gao2025-exp21",
            "gao2025-exp22",
            "gao2025-exp23",
            "gao2025-exp24",
        ],
    ),
    ("gao2025-exp14", ["gao2025-exp17", "gao2025-exp28"]),
    ("gao2025-exp31", ["gao2025-exp33", "gao2025-exp34"]),
    # wang2023: the '2nd stage pretraining' of wav2vec2.0.
    (
        "wang2023-b2",
        [
            "wang2023-b3",
            "wang2023-b4",
            "wang2023-b5",
            "wang2023-t2-ours",
            "wang2023-c1",
            "wang2023-c2",
            "wang2023-c3",
            "wang2023-c4",
        ],
    ),
] + [
    # alqurashi2024: the speech hierarchy (Model 1 + Model 2) under every text variant.
    (
        f"alqurashi2024-t2-{clf}-s-{s}",
        [f"alqurashi2024-t2-{clf}-st-{s}"]
        + [f"alqurashi2024-t2-{clf}-st-{s}-t{t}" for t in (25, 30, 35, 40)]
        + ([f"alqurashi2024-t3-ours-s{s}"] if clf == "w2v" else []),
    )
    for clf in ("lstm", "w2v", "w2vasr")
    for s in ("d", "i")
]


# ---------------------------------------------------------------------------- helpers


@functools.cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


@functools.cache
def validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


@functools.cache
def load(paper: str) -> dict:
    return yaml.safe_load((EXP_DIR / f"{paper}.yaml").read_text())


class _DecimalLoader(yaml.SafeLoader):
    """Reads floats as Decimal with their written digits (0.6440 stays 0.6440)."""


_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node))
)


@functools.cache
def load_exact(paper: str) -> dict:
    return yaml.load((EXP_DIR / f"{paper}.yaml").read_text(), Loader=_DecimalLoader)


def experiments(paper: str | None = None) -> list[dict]:
    papers = PAPERS if paper is None else (paper,)
    return [e for p in papers for e in load(p)["experiments"]]


@functools.cache
def by_id() -> dict[str, dict]:
    return {e["id"]: e for e in experiments()}


def final(e: dict, field: str):
    """A field of the final system: stage 2 overrides stage 1."""
    m = e["model"]
    if m.get("stage2") and field in m["stage2"]:
        return m["stage2"][field]
    return m["stage1"].get(field)


def shared_metrics(a: dict, b: dict) -> set[str]:
    return set(a["paper_results"]) & set(b["paper_results"])


# ---------------------------------------------------------------------------- schema


def test_schema_is_valid_draft_2020_12() -> None:
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema())


def _object_nodes(node, path="$"):
    if isinstance(node, dict):
        types = node.get("type")
        if types == "object" or (isinstance(types, list) and "object" in types):
            yield path, node
        for k, v in node.items():
            yield from _object_nodes(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _object_nodes(v, f"{path}[{i}]")


def test_schema_is_closed_and_documented() -> None:
    nodes = list(_object_nodes(schema()))
    assert len(nodes) > 10
    for path, node in nodes:
        assert node.get("additionalProperties") is False, (
            f"{path} must set additionalProperties: false"
        )
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}.properties.{name} has no description"
    for name, definition in schema()["$defs"].items():
        assert definition.get("description"), f"$defs.{name} has no description"


@pytest.mark.parametrize("paper", PAPERS)
def test_file_validates(paper: str) -> None:
    errors = sorted(validator().iter_errors(load(paper)), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def _messages(errors) -> str:
    out = []
    for e in errors:
        out.append(e.message)
        out.append(_messages(e.context))
    return "\n".join(out)


def _first(paper: str, pred) -> tuple[dict, int]:
    doc = copy.deepcopy(load(paper))
    i = next(i for i, e in enumerate(doc["experiments"]) if pred(e))
    return doc, i


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda e: e.update(headlines=True), "headlines"),
        (lambda e: e["model"]["stage1"].update(strategey="adapters"), "strategey"),
        (lambda e: e["model"]["stage1"].update(fusion="tfg"), "tfg"),
        (lambda e: e["model"]["stage1"].update(tasks=["ser", "asr", "genders"]), "genders"),
        (lambda e: e["paper_results"].update(UAR=0.7), "UAR"),
        (lambda e: e["paper_results"].update(UA=75.28), "75.28"),
        (lambda e: e.update(split="kfold"), "kfold"),
        (lambda e: e.update(same_run_as="Gao2025-Exp17"), "Gao2025-Exp17"),
    ],
)
def test_schema_rejects_typos(mutate, needle: str) -> None:
    doc, i = _first("gao2025", lambda e: e["id"] == "gao2025-exp17")
    mutate(doc["experiments"][i])
    errors = list(validator().iter_errors(doc))
    assert errors
    assert needle in _messages(errors)


def test_schema_rejects_a_trained_external_row() -> None:
    doc, i = _first("gao2024", lambda e: e["model"]["family"] == "external")
    doc["experiments"][i]["reproduce"] = True
    assert list(validator().iter_errors(doc))
    doc, i = _first("gao2024", lambda e: e["model"]["family"] == "external")
    doc["experiments"][i]["model"]["stage1"] = None
    assert "stage1" in _messages(validator().iter_errors(doc))


# ---------------------------------------------------------------------------- ids and rows


@pytest.mark.parametrize("paper", PAPERS)
def test_file_names_its_paper_and_ids_carry_it(paper: str) -> None:
    doc = load(paper)
    assert doc["paper"] == paper
    for item in doc["experiments"] + doc["sweeps"]:
        assert item["id"].startswith(paper + "-"), item["id"]


def test_ids_unique_across_files() -> None:
    seen: dict[str, str] = {}
    for paper in PAPERS:
        for item in load(paper)["experiments"] + load(paper)["sweeps"]:
            assert item["id"] not in seen, f"{item['id']} in {paper} and {seen[item['id']]}"
            seen[item["id"]] = paper


@pytest.mark.parametrize("paper", PAPERS)
def test_rows_cite_their_table_and_row(paper: str) -> None:
    doc = load(paper)
    tables = {t["number"]: t for t in doc["tables"]}
    assert len(tables) == len(doc["tables"]), "table listed twice"
    per_table: dict[int, list[dict]] = defaultdict(list)
    for e in doc["experiments"]:
        assert e["table"] in tables, f"{e['id']} cites table {e['table']}, not in `tables`"
        assert tables[e["table"]]["kind"] != "examples", e["id"]
        assert e["row"].strip(), e["id"]
        per_table[e["table"]].append(e)
    for number, rows in per_table.items():
        idx = sorted(e["row_index"] for e in rows)
        assert idx == list(range(1, len(rows) + 1)), f"table {number}: row_index {idx}"
        keys = [(e["row"], e.get("group")) for e in rows]
        assert len(set(keys)) == len(keys), f"table {number}: a row label repeats with no group"


@pytest.mark.parametrize("paper", PAPERS)
def test_row_counts_match_the_paper(paper: str) -> None:
    doc = load(paper)
    tables = {t["number"]: t for t in doc["tables"]}
    assert set(tables) == set(ROW_COUNTS[paper]), "the paper's tables"
    for number, table in tables.items():
        rows = sorted(
            (e for e in doc["experiments"] if e["table"] == number), key=lambda e: e["row_index"]
        )
        assert len(rows) == ROW_COUNTS[paper][number], f"{paper} table {number}"
        if table["kind"] == "examples":
            continue
        assert [e["row"] for e in rows] == PAPER_STRUCTURE[paper][number], f"{paper} table {number}"
        reconstructed = [bool(e.get("reconstructed")) for e in rows]
        if table["rows_printed"] is None:
            assert all(reconstructed), (
                f"{paper} table {number}: rows not printed, so all reconstructed"
            )
        else:
            assert table["rows_printed"] == len(rows)
            assert not any(reconstructed)


def test_gao2025_is_exp1_to_exp37() -> None:
    rows = sorted(experiments("gao2025"), key=lambda e: (e["table"], e["row_index"]))
    assert [e["row"] for e in rows] == [str(i) for i in range(1, 38)]
    assert [e["id"] for e in rows] == [f"gao2025-exp{i:02d}" for i in range(1, 38)]


# ---------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("paper", PAPERS)
def test_numbers_are_the_printed_ones(paper: str) -> None:
    doc = load(paper)
    exact = {e["id"]: e for e in load_exact(paper)["experiments"]}
    metrics = {t["number"]: set(t["metrics"]) for t in doc["tables"]}
    for e in doc["experiments"]:
        printed, results = e["printed"], exact[e["id"]]["paper_results"]
        assert set(printed) == set(results), e["id"]
        assert set(results) <= metrics[e["table"]], f"{e['id']}: metric not in its table"
        for metric, text in printed.items():
            want = Decimal(text).scaleb(-2)
            got = results[metric]
            # the same digits: 64.40 % must be written 0.6440
            assert got == want and got.as_tuple() == want.as_tuple(), (
                f"{e['id']} {metric}: {got} vs {text}"
            )
        if e.get("reconstructed"):
            assert not printed, f"{e['id']}: a reconstructed row has no readable numbers"
            assert e.get("note"), e["id"]
        else:
            assert printed, f"{e['id']}: a printed row with no numbers"
        for fig in exact[e["id"]].get("figure_results", []):
            assert fig["value"] == Decimal(fig["printed"]).scaleb(-2)


# ---------------------------------------------------------------------------- references


def test_references_point_to_existing_experiments() -> None:
    ids = by_id()
    for e in experiments():
        for link in LINKS:
            if link in e:
                assert e[link] in ids, f"{e['id']}.{link} -> {e[link]} does not exist"
                assert e[link] != e["id"], f"{e['id']}.{link} points to itself"
        for other in e.get("combines", []):
            assert other in ids and other != e["id"], f"{e['id']}.combines -> {other}"


def test_same_run_as_is_the_same_system() -> None:
    ids = by_id()
    for e in experiments():
        if "same_run_as" not in e:
            continue
        target = ids[e["same_run_as"]]
        assert "same_run_as" not in target and "reuses_models_of" not in target, e["id"]
        assert trained(target), e["id"]
        assert e["model"] == target["model"], f"{e['id']}: model differs from {target['id']}"
        assert (e["corpus"], e.get("split")) == (target["corpus"], target.get("split")), e["id"]
        for m in shared_metrics(e, target):
            assert e["printed"][m] == target["printed"][m], f"{e['id']} {m}"


def test_reprints_print_the_same_numbers() -> None:
    ids = by_id()
    for e in experiments():
        if "reprints" not in e:
            continue
        target = ids[e["reprints"]]
        common = shared_metrics(e, target)
        assert common, e["id"]
        for m in common:
            assert e["printed"][m] == target["printed"][m], f"{e['id']} {m}"


TEST_TIME_FIELDS = ("inputs", "text_source_test", "threshold")


def test_reuses_models_of_changes_only_test_time_settings() -> None:
    ids = by_id()
    for e in experiments():
        if "reuses_models_of" not in e:
            continue
        target = ids[e["reuses_models_of"]]
        assert trained(target), e["id"]
        assert (e["corpus"], e["split"]) == (target["corpus"], target["split"]), e["id"]
        strip = lambda m: {k: v for k, v in m.items() if k not in TEST_TIME_FIELDS}  # noqa: E731
        assert strip(e["model"]) == strip(target["model"]), (
            f"{e['id']} retrains; it may only change {TEST_TIME_FIELDS}"
        )
        assert e["model"] != target["model"], (
            f"{e['id']}: identical to {target['id']}, use same_run_as"
        )


def test_combined_rows_exist_and_match() -> None:
    ids = by_id()
    combined = [e for e in experiments() if "combines" in e]
    assert [e["id"] for e in combined] == ["wang2023-t2-score-fusion"]
    for e in combined:
        parts = [ids[i] for i in e["combines"]]
        assert all(trained(p) for p in parts)
        assert {(p["corpus"], p["split"]) for p in parts} == {(e["corpus"], e["split"])}
        union = set().union(*(p["model"]["tasks"] for p in parts))
        assert set(e["model"]["tasks"]) == union
        assert set(e["model"]["inputs"]) == set().union(*(p["model"]["inputs"] for p in parts))


# ---------------------------------------------------------------------------- stage-1 sharing


def test_stage1_pointers_agree_with_keys() -> None:
    ids = by_id()
    for e in experiments():
        if "init_from" in e:
            target = ids[e["init_from"]]
            assert e["model"]["stage2"] is not None, f"{e['id']}: init_from needs a stage 2"
            assert target["model"]["stage2"] is None, (
                f"{e['id']}: init_from must name a one-stage experiment"
            )
            assert trained(target), e["id"]
            assert stage1_key(e) == stage1_key(target), (
                f"{e['id']}: stage 1 differs from {target['id']}"
            )
        if "shares_stage1_with" in e:
            target = ids[e["shares_stage1_with"]]
            assert e["model"]["stage2"] and target["model"]["stage2"], e["id"]
            assert trained(target) and "shares_stage1_with" not in target, e["id"]
            assert stage1_key(e) == stage1_key(target), (
                f"{e['id']}: stage 1 differs from {target['id']}"
            )


def test_shared_stage1_is_declared_once() -> None:
    """Same stage-1 key -> one checkpoint: one one-stage root, or one two-stage root the
    others point to. A second one-stage row with the same key would train the same model
    twice (it must be `same_run_as` or `reuses_models_of`)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for e in experiments():
        if trained(e):
            groups[stage1_key(e)].append(e)
    for key, members in groups.items():
        single = [e for e in members if e["model"]["stage2"] is None]
        double = [e for e in members if e["model"]["stage2"] is not None]
        assert len(single) <= 1, f"{key}: {[e['id'] for e in single]} train the same model"
        if single:
            for e in double:
                assert e.get("init_from") == single[0]["id"], (
                    f"{e['id']} must set init_from: {single[0]['id']}"
                )
        elif len(double) > 1:
            roots = [e for e in double if "shares_stage1_with" not in e]
            assert len(roots) == 1, f"{key}: roots {[e['id'] for e in roots]}"
            for e in double:
                if e is not roots[0]:
                    assert e["shares_stage1_with"] == roots[0]["id"], e["id"]
        else:
            assert all("shares_stage1_with" not in e and "init_from" not in e for e in members)


@pytest.mark.parametrize(("root", "members"), SHARED_STAGE1, ids=[r for r, _ in SHARED_STAGE1])
def test_papers_shared_stage1_checkpoints(root: str, members: list[str]) -> None:
    ids = by_id()
    key = stage1_key(ids[root])
    for m in members:
        assert stage1_key(ids[m]) == key, f"{m} should share the stage-1 checkpoint of {root}"


def test_distinct_stage1_setups_get_distinct_keys() -> None:
    ids = by_id()
    for a, b in [
        ("gao2025-exp13", "gao2025-exp14"),  # fusion
        ("gao2025-exp13", "gao2025-exp16"),  # AEC + CL
        ("gao2025-exp14", "gao2025-exp18"),  # AEC + CL
        ("gao2025-exp13", "gao2025-exp31"),  # corpus
        ("gao2025-exp13", "gao2025-exp19"),  # adapters
        ("wang2023-b1", "wang2023-b2"),  # continued pre-training
        ("alqurashi2024-t2-w2v-s-d", "alqurashi2024-t2-w2v-s-i"),  # split
        ("alqurashi2024-t2-w2v-s-d", "alqurashi2024-t2-w2vasr-s-d"),  # encoder
        ("gao2024-t1-exp08", "wang2023-a1"),  # same BERT block, each paper's own recipe
    ]:
        assert stage1_key(ids[a]) != stage1_key(ids[b]), (a, b)


# ---------------------------------------------------------------------------- model consistency


def test_models_are_consistent() -> None:
    for e in experiments():
        m = e["model"]
        if m["family"] == "external" or m.get("stage1") is None:
            continue
        s1, s2 = m["stage1"], m["stage2"]
        stage_tasks = set(s1["tasks"]) | set(s2["tasks"] if s2 else [])
        assert set(m["tasks"]) == stage_tasks, f"{e['id']}: tasks must be the union of the stages'"
        if m["family"] == "hierarchical":
            train = s2.get("text_source", "none") if s2 else "none"
        else:
            train = final(e, "text_source")
        assert m["text_source_train"] == train, e["id"]
        text_encoder = final(e, "text_encoder")
        assert (text_encoder is not None) == (m["text_source_test"] != "none"), e["id"]
        assert ("text" in m["inputs"]) == (m["text_source_test"] == "ground_truth"), e["id"]
        has_speech = s1["acoustic_encoder"] is not None or "acoustic_features" in s1
        assert ("speech" in m["inputs"]) == has_speech, e["id"]
        if m["text_source_test"] in ("asr", "asr_corrected"):
            # multi-level SER: speech in, the system's ASR makes the transcript
            assert m["inputs"] == ["speech"], e["id"]
        assert ("aec" in m["tasks"]) == (m["text_source_test"] == "asr_corrected"), e["id"]
        le = {}
        for s in (s1, s2 or {}):
            le.update(s.get("label_embedding", {}))
        assert ("label_text" in m["tasks"]) == ("text" in le), e["id"]
        assert ("label_speech" in m["tasks"]) == ("speech" in le), e["id"]
        constrained = le.get("attention") == "constraint"
        assert ("attention_constraint" in m["tasks"]) == constrained, e["id"]
        assert (final(e, "fusion") == "label_guided") == ("attention" in le), e["id"]
        if m["family"] == "hierarchical" and s2 is None:
            assert m["threshold"] is None, f"{e['id']}: a threshold needs the text model"


def test_headline_rows_per_table() -> None:
    for paper in PAPERS:
        for table in load(paper)["tables"]:
            rows = [e for e in experiments(paper) if e["table"] == table["number"]]
            if not any(e["reproduce"] for e in rows):
                continue
            heads = [e["id"] for e in rows if e["headline"]]
            assert 1 <= len(heads) <= 6, f"{paper} table {table['number']}: headline rows {heads}"
            assert all(by_id()[h]["reproduce"] for h in heads)


# ---------------------------------------------------------------------------- sweeps


def _path(model: dict, dotted: str):
    node = model
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"{dotted} not in the base's model"
        node = node[part]
    return node


def test_sweeps_vary_existing_experiments() -> None:
    ids = by_id()
    sweeps = [s for p in PAPERS for s in load(p)["sweeps"]]
    assert {s["id"] for s in sweeps} >= {"wang2023-fig3-speech-k", "alqurashi2024-fig3-threshold"}
    for s in sweeps:
        for base in s["bases"]:
            assert base in ids, f"{s['id']}: base {base}"
            value = _path(ids[base]["model"], s["parameter"])
            if s["selected"] is not None:
                assert value == s["selected"], (
                    f"{s['id']}: {base} runs {value}, the paper chose {s['selected']}"
                )
        if s["selected"] is not None:
            assert s["selected"] in s["grid"], s["id"]
        if s["grid_from_paper"]:
            assert s["values"] == s["grid"], s["id"]
        else:
            assert s.get("note"), f"{s['id']}: say where the grid comes from"


def test_load_matrix_validates_and_tags_papers() -> None:
    matrix = load_matrix(EXP_DIR)
    assert len(matrix) == len(experiments())
    assert matrix["gao2025-exp17"]["paper"] == "gao2025"


def test_model_owner_follows_reuse_links() -> None:
    matrix = load_matrix(EXP_DIR)
    assert model_owner(matrix["gao2025-exp28"], matrix) == "gao2025-exp14"
    assert model_owner(matrix["gao2025-exp17"], matrix) == "gao2025-exp17"
    for e in matrix.values():
        if e["model"]["family"] != "external" and "combines" not in e:
            assert trained(matrix[model_owner(e, matrix)])


def test_only_a_model_no_row_scores_on_asr_output_is_chosen_on_the_ground_truth() -> None:
    """The selection text follows the rows a model serves: gao2025 Exp-12 (Table 3, speech
    + ground truth, with ASR) owns its model and is scored on the ground truth; Exp-10 is
    too, but shares Exp-13's checkpoint, which Exp-13 scores on its transcripts (and
    Exp-15's stage 2 builds on); MELD Exp-33 shares Exp-31's."""
    from mlser.experiments import selects_on_ground_truth

    matrix = load_matrix(EXP_DIR)
    assert selects_on_ground_truth(matrix, "gao2025-exp12", 1)
    for exp_id in ("gao2025-exp10", "gao2025-exp13", "gao2025-exp33", "gao2025-exp14"):
        assert not selects_on_ground_truth(matrix, exp_id, 1), exp_id
    assert not selects_on_ground_truth(matrix, "gao2025-exp17", 2)
    assert not selects_on_ground_truth(matrix, "gao2025-exp11", 1)  # no ASR head: its kind says
    # the same model, were its row scored on its transcripts
    lone = copy.deepcopy(matrix)
    lone["gao2025-exp12"]["model"]["text_source_test"] = "asr"
    assert not selects_on_ground_truth(lone, "gao2025-exp12", 1)
    # a row whose stage 2 starts from Exp-12's model (init_from) and reads transcripts:
    # both of Exp-12's trainings serve ASR output
    built = copy.deepcopy(matrix)
    row = copy.deepcopy(built["gao2025-exp17"])
    row.update(id="x", init_from="gao2025-exp12")
    row["model"]["text_source_test"] = "asr"
    built["x"] = row
    assert selects_on_ground_truth(matrix, "gao2025-exp12", 2)
    assert not selects_on_ground_truth(built, "gao2025-exp12", 2)
    assert not selects_on_ground_truth(built, "gao2025-exp12", 1)


def test_select_names_unknown_ids() -> None:
    matrix = load_matrix(EXP_DIR)
    with pytest.raises(ValueError, match=r"experiments\.select.*'gao2025-exp99'"):
        select(matrix, ["gao2025-exp1", "gao2025-exp99"][1:])
    head = select(matrix, "headline", families=("multilevel",), corpora=("meld",))
    assert head and all(matrix[i]["corpus"] == "meld" for i in head)


def test_unsupported_rows_say_why() -> None:
    from mlser.experiments import unsupported_reason

    matrix = load_matrix(EXP_DIR)
    assert unsupported_reason(matrix["gao2025-exp17"]) is None
    assert unsupported_reason(matrix["gao2025-exp35"]) is None  # AEC
    assert unsupported_reason(matrix["gao2025-exp18"]) is None  # AEC + CL, two stages
    # BERT reads the ASR transcript, but the row trains no ASR: known at plan time, not
    # after an hour of training when its scoring fails
    assert "trains no ASR" in unsupported_reason(matrix["gao2025-exp20"])
    # every reproduced wang2023 row runs (LE-MER family)
    wang = [i for i, e in matrix.items() if e["paper"] == "wang2023" and e["reproduce"]]
    assert wang and all(unsupported_reason(matrix[i]) is None for i in wang)


def test_label_embeddings_from_word_embeddings_need_the_text_encoder() -> None:
    from mlser.experiments import embeds_label_words

    matrix = load_matrix(EXP_DIR)

    def stage(i: str) -> dict:
        return matrix[i]["model"].get("stage2") or matrix[i]["model"]["stage1"]

    assert embeds_label_words(stage("wang2023-b4"))  # speech, from BERT embeddings
    assert embeds_label_words(stage("wang2023-a5"))  # text, TF-IDF keywords
    assert not embeds_label_words(stage("wang2023-b5"))  # speech, codebook key frames
    assert not embeds_label_words(stage("gao2025-exp17"))  # no label embeddings
