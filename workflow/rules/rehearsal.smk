# The rehearsal's bill (#23, config/rehearsal.yaml): per rule, the jobs, their wall time
# and peak memory (-> mem_mb at x1.5); per paper, the full run's estimated hours.


rule rehearsal_report:
    input:
        targets=get_rehearsed_targets,
        manifests=get_rehearsal_manifests,
    output:
        report=report(
            "results/rehearsal/report.md",
            caption="../report/rehearsal.rst",
            category="Rehearsal",
        ),
        jobs="results/rehearsal/jobs.tsv",
        trainings="results/rehearsal/trainings.tsv",
        resources="results/rehearsal/resources.json",
    log:
        "results/logs/rehearsal_report.log",
    localrule: True
    conda:
        "../../envs/mlser.yaml"
    params:
        full_epochs=get_full_epochs,
        full_corpus=get_full_corpus,
        full_seeds=REHEARSAL.get("full_seeds", 1) if REHEARSAL else 1,
        not_run=get_not_run,
        device=NEURAL_DEVICE,
        pretrained=PRETRAINED_DIR,
    shell:
        "python -m mlser rehearsal-report --results results"
        " --pretrained {params.pretrained} --manifests {input.manifests}"
        " --full-epochs {params.full_epochs:q} --full-corpus {params.full_corpus:q}"
        " --full-seeds {params.full_seeds}"
        " --not-run {params.not_run:q} --device {params.device}"
        " --out $(dirname {output.report}) > {log} 2>&1"
