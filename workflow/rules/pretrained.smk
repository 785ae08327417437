# Pretrained weights, fetched once (issue #23): each model the config names goes into
# resources/pretrained/<folder>/ at its pinned revision, on the machine where Snakemake
# runs (a local rule: cluster nodes need no network); every job that loads it lists the
# folder as an input (get_pretrained_inputs) and loads it offline. The folder's
# .mlser_fetch.json records the source, the commit and each file's SHA-256.


rule fetch_pretrained:
    output:
        directory(f"{PRETRAINED_DIR}/{{pretrained}}"),
    log:
        "results/logs/fetch_pretrained/{pretrained}.log",
    wildcard_constraints:
        pretrained="|".join(re.escape(name) for name in PRETRAINED) or "^$",
    priority: 3
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        source=lambda w: PRETRAINED[w.pretrained]["source"],
        flags=fetch_flags,
    # the error (no revision, no network, a partial download) on the console too
    shell:
        "python -m mlser fetch-pretrained {params.source:q} --out {output}"
        " {params.flags} 2>&1 | tee {log}"
