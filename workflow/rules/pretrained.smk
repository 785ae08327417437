# Pretrained weights, fetched once (issue #23): each model the config names goes into
# resources/pretrained/<folder>/ at its pinned revision, on the machine where Snakemake
# runs (a local rule: cluster nodes need no network); every job that loads it lists the
# folder as an input (pretrained_folders) and loads it offline. The folder's
# .mlser_fetch.json records the source, the commit and each file's SHA-256.


rule fetch_pretrained:
    output:
        directory(f"{PRETRAINED_DIR}/{{pretrained}}"),
    log:
        "results/logs/fetch_pretrained/{pretrained}.log",
    wildcard_constraints:
        pretrained=alternatives(PRETRAINED),
    priority: 3
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        source=get_pretrained_source,
        flags=get_fetch_flags,
    # the error (no revision, no network, a partial download) on the console too
    shell:
        "python -m mlser fetch-pretrained {params.source:q} --out {output}"
        " {params.flags} 2>&1 | tee {log}"
