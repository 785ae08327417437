# Functions of rehearsal.smk (#23): when the config has a `rehearsal` block, the bill of
# the full run (results/rehearsal/) is made after every other target.

REHEARSAL = config.get("rehearsal")

# training kind (mlser.report.rehearsal.TRAINING_KINDS) -> its block under `training`
_FULL_EPOCH_BLOCKS = {
    "multilevel.stage1": ("multilevel", "stage1"),
    "multilevel.stage2": ("multilevel", "stage2"),
    "le_mer.pretrain": ("le_mer", "pretrain"),
    "le_mer.finetune": ("le_mer", "finetune"),
    "hierarchical": ("hierarchical",),
}


def get_full_epochs(wildcards):
    """The paper config's epochs of each training kind (before the rehearsal's cap)."""
    out = {}
    for kind, path in _FULL_EPOCH_BLOCKS.items():
        block = config.get("training", {})
        for key in path:
            block = block.get(key, {})
        if "epochs" in block:
            out[kind] = block["epochs"]
    return _json(out)


def get_full_corpus(wildcards):
    return _json(REHEARSAL.get("full_corpus", {}))


def get_not_run(wildcards):
    """Rows of the matrix the pipeline cannot run yet, and why."""
    return _json(
        {i: why for i in sorted(MATRIX) if (why := unsupported_reason(MATRIX[i]))}
    )


def get_rehearsed_targets(wildcards):
    """Every other target of the run: the bill is made once they are all done."""
    own = set(rehearsal_targets())
    return [t for t in get_final_output() if t not in own]


def get_rehearsal_manifests(wildcards):
    return [corpus_file(rules.prepare_corpus.output.manifest, c) for c in CORPORA]


def rehearsal_targets():
    return ["results/rehearsal/report.md"] if REHEARSAL else []


TARGET_SOURCES.append(rehearsal_targets)
