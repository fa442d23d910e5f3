include: "train_inputs.smk"


rule train:
    """Train a DFL model (DF or LIAE family, DFL's recipe) on the source face set and the
    destinations' face sets.

    Its state (checkpoints, optimizer, RNG, backups) lives in results/models/{model}/state/, which
    is not a declared output: Snakemake never deletes it, so a rerun resumes from it.
    """
    input:
        unpack(train_inputs),
    output:
        model="results/models/{model}/model.safetensors",
        preview=report(
            "results/models/{model}/preview.jpg",
            caption="../report/preview.rst",
            category=REPORT_MODELS,
            subcategory=model_section,
            labels=model_labels("training preview"),
        ),
        history="results/models/{model}/loss.csv",
        plot=report(
            "results/models/{model}/loss.png",
            caption="../report/loss.rst",
            category=REPORT_MODELS,
            subcategory=model_section,
            labels=model_labels("loss over training"),
        ),
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    conda:
        ENV
    threads: max(2, TRAIN_DEVICES)
    resources:
        mem_mb=4000,
        gpu=TRAIN_DEVICES,
        nodes=config["train"]["nodes"],
        gres=f"gpu:{TRAIN_DEVICES}",  # SLURM: the GPUs on each node
    params:
        state="results/models/{model}/state",
        settings=tracked("train"),
        run=untracked("train"),
        # The recipe version, not a code hash: a refactor of the training code reruns no training.
        code=recipe(),
    script:
        "../scripts/train.py"
