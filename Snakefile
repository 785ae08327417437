from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


localrules:
    corpus_counts,
    experiments_table,
    lemer_keyword_tables,
    lemer_score_fusion,
    figure_wang2023_labels,
    figure_wang2023_k_sweep,
    figure_wang2023_attention,


include: "workflow/rules/common.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/multilevel.smk"
include: "workflow/rules/lemer.smk"


rule all:
    default_target: True
    input:
        all_targets,
