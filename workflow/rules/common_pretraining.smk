# Functions of the pretraining rules (pretraining.smk): which pretrained acoustic
# checkpoint, if any, a stage-1 job starts from.


def pretraining(name):
    return config.get("pretraining", {}).get("acoustic", {}).get(name)


def acoustic_init(wildcards):
    """The pretrained acoustic encoder a stage-1 job starts from, if the config has one."""
    name = MATRIX[STAGE1[wildcards.key]]["model"]["stage1"].get("acoustic_encoder")
    if name and pretraining(name):
        return {"acoustic_init": f"results/pretrained/{name}/model.pt"}
    return {}


def acoustic_init_flag(wildcards, input):
    return (
        f"--acoustic-init {input.acoustic_init}"
        if "acoustic_init" in input.keys()
        else ""
    )
