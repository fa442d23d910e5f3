rule train:
    """Train a DF autoencoder on the source face set and the destinations' face sets.

    Its state (checkpoints, optimizer, RNG) lives in results/models/{model}/state/, which is
    not a declared output: Snakemake never deletes it, so a rerun resumes from it.
    """
    input:
        unpack(train_inputs),
        code=lib("train", "dataset"),
    output:
        model="results/models/{model}/model.pt",
        preview=report("results/models/{model}/preview.jpg", caption="../report/preview.rst", category="Models"),
        history="results/models/{model}/loss.csv",
        plot=report("results/models/{model}/loss.png", caption="../report/loss.rst", category="Models"),
    params:
        state="results/models/{model}/state",
        preset=config["train"]["preset"],
        resolution=config["train"]["resolution"],
        iterations=config["train"]["iterations"],
        batch_size=config["train"]["batch_size"],
        lr=config["train"]["lr"],
        seed=config["train"]["seed"],
        save_every=config["train"]["save_every"],
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/train.py"
