rule train:
    """Train a DFL model (DF or LIAE family, DFL's recipe) on the source face set and the
    destinations' face sets.

    Its state (checkpoints, optimizer, RNG, backups) lives in results/models/{model}/state/, which
    is not a declared output: Snakemake never deletes it, so a rerun resumes from it.
    """
    input:
        unpack(train_inputs),
        code=lib("train"),
    output:
        model="results/models/{model}/model.pt",
        preview=report("results/models/{model}/preview.jpg", caption="../report/preview.rst", category="Models"),
        history="results/models/{model}/loss.csv",
        plot=report("results/models/{model}/loss.png", caption="../report/loss.rst", category="Models"),
    params:
        state="results/models/{model}/state",
        preset=config["train"]["preset"],
        archi=config["train"]["archi"],
        resolution=config["train"]["resolution"],
        ae_dims=config["train"]["ae_dims"],
        e_dims=config["train"]["e_dims"],
        d_dims=config["train"]["d_dims"],
        d_mask_dims=config["train"]["d_mask_dims"],
        iterations=config["train"]["iterations"],
        batch_size=config["train"]["batch_size"],
        lr=config["train"]["lr"],
        optimizer=config["train"]["optimizer"],
        lr_dropout=config["train"]["lr_dropout"],
        clip_grad=config["train"]["clip_grad"],
        masked_training=config["train"]["masked_training"],
        eyes_mouth_prio=config["train"]["eyes_mouth_prio"],
        random_warp=config["train"]["random_warp"],
        random_flip=config["train"]["random_flip"],
        ct_mode=config["train"]["ct_mode"],
        uniform_yaw=config["train"]["uniform_yaw"],
        pretrain=config["train"]["pretrain"],
        precision=config["train"]["precision"],
        seed=config["train"]["seed"],
        save_every=config["train"]["save_every"],
        backup_every=config["train"]["backup_every"],
        backup_keep=config["train"]["backup_keep"],
        preview_every=config["train"]["preview_every"],
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
