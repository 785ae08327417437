# Functions and settings of export.smk (export_model): which trained model, if any, the
# config exports; its target.

from mlser.config_checks import check_export

try:
    check_export(config.get("export"), MATRIX, CORPORA, unsupported_reason)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

# Only a model the run trains anyway: narrowing `experiments.select` or `.folds` must not
# bring back the training of another row.
EXPORT = config.get("export")
if EXPORT and (
    EXPORT["experiment"] not in EXPERIMENTS
    or EXPORT["fold"] not in experiment_folds(EXPORT["experiment"])
):
    print(
        f"mlser: export of {EXPORT['experiment']} fold {EXPORT['fold']} skipped: not among "
        "the selected experiments and folds (experiments.select, experiments.folds)",
        file=sys.stderr,
    )
    EXPORT = None


def export_targets():
    if not EXPORT:
        return []
    return [f"results/export/{EXPORT['experiment']}/{EXPORT['fold']}"]


TARGET_SOURCES.append(export_targets)


def _exported_owner(wildcards):
    """The row whose trained model an exported row is scored with."""
    return model_owner(MATRIX[wildcards.experiment], MATRIX)


def get_export_model(wildcards):
    return final_model(_exported_owner(wildcards), wildcards.fold)


def get_export_bases(wildcards):
    return model_bases(_exported_owner(wildcards), wildcards.fold)


def get_export_origin(wildcards):
    return _json(
        {
            "experiment": wildcards.experiment,
            "fold": wildcards.fold,
            "corpus": MATRIX[wildcards.experiment]["corpus"],
        }
    )
