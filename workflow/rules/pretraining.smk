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
        spec=get_read_speech_spec,
    shell:
        "python -m mlser synthesize read_speech --out {output} --spec {params.spec:q}"
        " > {log} 2>&1"


rule pretrain_acoustic:
    input:
        corpus=unflagged(rules.synthesize_read_speech.output[0]),
        pretrained=get_pretraining_pretrained,
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
        models=get_pretraining_models,
        training=get_pretraining_settings,
        checkpoints=get_pretraining_checkpoints,
    shell:
        "python -m mlser pretrain-acoustic --corpus {input.corpus} --acoustic-encoder {wildcards.name}"
        " --models {params.models:q} --training {params.training:q}"
        " --checkpoints {params.checkpoints} --threads {threads}"
        " --device {params.device} --out {output} > {log} 2>&1"
