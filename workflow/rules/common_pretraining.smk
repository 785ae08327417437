# Functions of the pretraining rules (pretraining.smk): the demo's synthetic read speech
# and CTC pretraining settings, and which pretrained acoustic checkpoint, if any, a
# stage-1 job starts from.


def pretraining(name):
    return config.get("pretraining", {}).get("acoustic", {}).get(name)


def _pretrained_encoder(name):
    """The `models` section of one acoustic encoder as its pretraining builds it."""
    return {"acoustic": {name: config["models"]["acoustic"][name]}}


def get_read_speech_spec(wildcards):
    return _json(pretraining(wildcards.name)["corpus"])


def get_pretraining_pretrained(wildcards):
    return pretrained_folders(_pretrained_encoder(wildcards.name))


def get_pretraining_models(wildcards):
    return _json(local_models(_pretrained_encoder(wildcards.name)))


def get_pretraining_settings(wildcards):
    return _json(
        {k: v for k, v in pretraining(wildcards.name).items() if k != "corpus"}
    )


def get_pretraining_checkpoints(wildcards, output):
    return checkpoints_beside(
        output[0],
        config["models"]["acoustic"][wildcards.name],
        pretraining(wildcards.name),
    )


def get_acoustic_init(wildcards):
    """The pretrained acoustic encoder a stage-1 job starts from, if the config has one."""
    name = MATRIX[STAGE1[wildcards.key]]["model"]["stage1"].get("acoustic_encoder")
    if name and pretraining(name):
        return {
            "acoustic_init": expand(rules.pretrain_acoustic.output[0], name=name)[0]
        }
    return {}


def get_acoustic_init_flag(wildcards, input):
    return (
        f"--acoustic-init {input.acoustic_init}"
        if "acoustic_init" in input.keys()
        else ""
    )
