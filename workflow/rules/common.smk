import json
import os
import shlex

from snakemake.utils import validate

from mlser.config_checks import ConfigError, check_corpora, meld_paths

validate(config, schema="../../config/schema.yaml")

try:
    check_corpora(config["corpora"])
except ConfigError as err:
    raise WorkflowError(str(err)) from None


# Every rule runs one `python -m mlser <step>`; PYTHONPATH lets that work in any
# environment that has the dependencies (e.g. a rule's conda env on a cluster).
MLSER = (
    f"PYTHONPATH={workflow.basedir}/src${{PYTHONPATH:+:$PYTHONPATH}} python -m mlser"
)
DEMO_CORPORA = "results/demo_corpora"

CORPORA = [name for name, c in config["corpora"].items() if c.get("enabled", True)]


wildcard_constraints:
    corpus="|".join(CORPORA) or "none",


def corpus_root(wildcards):
    """The release tree a corpus is read from: generated, or the user's copy."""
    cfg = config["corpora"][wildcards.corpus]
    if cfg.get("synthesize") is not None:
        return f"{DEMO_CORPORA}/{wildcards.corpus}"
    return cfg["root"]


def synthesize_spec(wildcards):
    return json.dumps(config["corpora"][wildcards.corpus]["synthesize"], sort_keys=True)


def prepare_options(wildcards):
    """Extra `mlser prepare` flags: MELD's per-path overrides."""
    cfg = config["corpora"][wildcards.corpus]
    if wildcards.corpus != "meld" or cfg.get("synthesize") is not None:
        return ""
    paths = meld_paths(cfg["root"], cfg.get("paths"))
    return " ".join(
        f"--{k.replace('_', '-')} {shlex.quote(str(v))}" for k, v in paths.items()
    )


def fold_schemes(wildcards):
    return " ".join(config["corpora"][wildcards.corpus]["folds"])


def all_targets():
    targets = []
    for corpus in CORPORA:
        targets += [
            f"results/{corpus}/manifest.tsv",
            f"results/{corpus}/rejects.tsv",
            f"results/{corpus}/folds.tsv",
            f"results/{corpus}/tables/corpus_counts.csv",
        ]
    return targets
