from snakemake.utils import min_version

min_version("9.0")


# The embedded demo (config/config.yaml) is the base of a run given no config file, or
# one whose config says `extends: demo` (config/tiny.yaml, config/demo-full.yaml). Any
# other config file stands alone on the schema's defaults: the papers' settings
# (config/paper.yaml) must not inherit the demo's tiny models, frozen MiniLM and
# synthetic-speech pretraining.
if not workflow.overwrite_configfiles or config.get("extends") == "demo":

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# The config validated, the experiment matrix and each family's functions and settings
# (input functions get_*, targets); the rules files below hold rules only.
include: "workflow/rules/common.smk"
include: "workflow/rules/common_pretraining.smk"
include: "workflow/rules/common_multilevel.smk"
include: "workflow/rules/common_hierarchical.smk"
include: "workflow/rules/common_lemer.smk"
include: "workflow/rules/common_report.smk"
include: "workflow/rules/common_export.smk"
include: "workflow/rules/common_rehearsal.smk"
# The rules: pretrained weights, corpora, the demo's acoustic pretraining, the three
# model families, the report's tables and figures, the exported model.
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/pretraining.smk"
include: "workflow/rules/multilevel.smk"
include: "workflow/rules/hierarchical.smk"
include: "workflow/rules/lemer.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/rehearsal.smk"


rule all:
    default_target: True
    input:
        get_final_output,
