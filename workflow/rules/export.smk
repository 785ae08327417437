# A trained model exported as a self-contained Hugging Face folder (config `export`),
# usable with `mlser predict` without the pipeline.

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

TARGET_SOURCES.append(
    lambda: (
        [f"results/export/{EXPORT['experiment']}/{EXPORT['fold']}"] if EXPORT else []
    )
)


rule export_model:
    input:
        model=lambda w: final_model(model_owner(MATRIX[w.experiment], MATRIX), w.fold),
        bases=lambda w: model_bases(
            final_model(model_owner(MATRIX[w.experiment], MATRIX), w.fold)
        ),
        pretrained=lambda w: pretrained_for(w.experiment),
    output:
        directory("results/export/{experiment}/{fold}"),
    log:
        "results/logs/export_model/{experiment}/{fold}.log",
    benchmark:
        "results/benchmarks/export_model/{experiment}/{fold}.tsv"
    wildcard_constraints:
        experiment=ids_regex("multilevel"),
    conda:
        "../../envs/mlser.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        origin=lambda w: _json(
            {
                "experiment": w.experiment,
                "fold": w.fold,
                "corpus": MATRIX[w.experiment]["corpus"],
            }
        ),
    shell:
        "python -m mlser export {input.model} {output} --origin {params.origin:q}"
        " --threads {threads} > {log} 2>&1"
