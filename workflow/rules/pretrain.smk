include: "pretrain_inputs.smk"


rule pretrain:
    """Train the shared base model: every face of pretrain.sources through both identities (DFL's
    pretraining), with the train section's architecture. A model with train.from_base starts from
    it, so N pairs cost one base and N short trainings. Adding a pair never retrains it.

    Its state lives in results/pretrained/{base}/state/ (resumable and crash-safe like any model's).
    """
    input:
        unpack(pretrain_inputs),
    output:
        model="results/pretrained/{base}/model.safetensors",
        preview=report(
            "results/pretrained/{base}/preview.jpg",
            caption="../report/preview.rst",
            category=REPORT_MODELS,
            subcategory=model_section,
            labels=model_labels("training preview"),
        ),
        history="results/pretrained/{base}/loss.csv",
        plot=report(
            "results/pretrained/{base}/loss.png",
            caption="../report/loss.rst",
            category=REPORT_MODELS,
            subcategory=model_section,
            labels=model_labels("loss over training"),
        ),
    log:
        "logs/pretrain/{base}.log",
    benchmark:
        "benchmarks/pretrain/{base}.tsv"
    conda:
        ENV
    threads: max(2, TRAIN_DEVICES)
    resources:
        mem_mb=4000,
        gpu=TRAIN_DEVICES,
        nodes=config["train"]["nodes"],
        gres=f"gpu:{TRAIN_DEVICES}",  # SLURM: the GPUs on each node
    params:
        state="results/pretrained/{base}/state",
        settings=base_settings(),
        run=untracked("train"),
        code=recipe(),
    script:
        "../scripts/pretrain.py"
