# The demo's stand-in for a pretrained acoustic checkpoint (mlser.training.pretraining):
# synthetic read speech, then one CTC pretraining per acoustic encoder, shared by every
# fold and experiment. The paper config has no `pretraining` and never runs these rules.


rule synthesize_read_speech:
    output:
        directory(f"{DEMO_CORPORA}/read_speech/{{name}}"),
    log:
        "results/logs/synthesize_read_speech/{name}.log",
    benchmark:
        "results/benchmarks/synthesize_read_speech/{name}.tsv"
    priority: 2
    conda:
        "../../envs/mlser.yaml"
    params:
        spec=lambda w: _json(pretraining(w.name)["corpus"]),
    shell:
        "python -m mlser synthesize read_speech --out {output} --spec {params.spec:q}"
        " > {log} 2>&1"


rule pretrain_acoustic:
    input:
        corpus=f"{DEMO_CORPORA}/read_speech/{{name}}",
        pretrained=lambda w: get_pretrained_inputs(
            {"acoustic": {w.name: config["models"]["acoustic"][w.name]}}
        ),
    output:
        "results/pretrained/{name}/model.pt",
    log:
        "results/logs/pretrain_acoustic/{name}.log",
    benchmark:
        "results/benchmarks/pretrain_acoustic/{name}.tsv"
    priority: 2
    conda:
        "../../envs/mlser.yaml"
    threads: NEURAL_THREADS
    resources:
        gpu=NEURAL_GPU,
        mem_mb=16000,
        runtime=1440,
    params:
        device=NEURAL_DEVICE,
        models=lambda w: _json(
            local_models({"acoustic": {w.name: config["models"]["acoustic"][w.name]}})
        ),
        training=lambda w: _json(
            {k: v for k, v in pretraining(w.name).items() if k != "corpus"}
        ),
        checkpoints=lambda w: (
            f"results/pretrained/{w.name}/checkpoints/"
            + run_hash(config["models"]["acoustic"][w.name], pretraining(w.name))
        ),
    shell:
        "python -m mlser pretrain-acoustic --corpus {input.corpus} --acoustic-encoder {wildcards.name}"
        " --models {params.models:q} --training {params.training:q}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"
