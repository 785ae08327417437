# A trained model exported as a self-contained Hugging Face folder (config `export`),
# usable with `mlser predict` without the pipeline.


rule export_model:
    input:
        model=get_export_model,
        bases=get_export_bases,
        pretrained=get_experiment_pretrained,
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
        origin=get_export_origin,
    shell:
        "python -m mlser export {input.model} {output} --origin {params.origin:q}"
        " --threads {threads} > {log} 2>&1"
