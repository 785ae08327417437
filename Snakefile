from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


localrules:
    corpus_counts,
    experiments_table,


include: "workflow/rules/common.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/multilevel.smk"
include: "workflow/rules/lemer.smk"


rule all:
    default_target: True
    input:
        all_targets,
