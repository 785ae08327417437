# A trained model exported as a self-contained Hugging Face folder (config `export`),
# usable with `mlser predict` without the pipeline.


def _check_export():
    from mlser.config_checks import check_export

    try:
        check_export(config.get("export"), MATRIX, CORPORA, unsupported_reason)
    except ConfigError as err:
        raise WorkflowError(str(err)) from None


_check_export()


def export_targets():
    cfg = config.get("export")
    if not cfg:
        return []
    return [f"results/export/{cfg['experiment']}/{cfg['fold']}"]


TARGET_SOURCES.append(export_targets)


def exported_model(wildcards):
    return final_model(
        model_owner(MATRIX[wildcards.experiment], MATRIX), wildcards.fold
    )


rule export_model:
    input:
        exported_model,
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
        "python -m mlser export {input} {output} --origin {params.origin:q}"
        " --threads {threads} > {log} 2>&1"
