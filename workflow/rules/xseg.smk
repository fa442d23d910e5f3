include: "xseg_inputs.smk"


# Learned face segmentation (XSeg): with xseg.enabled, one model learns face from occluder on the
# kept faces of xseg.videos (the landmark hulls with synthetic occluders, and the user's outlines in
# labels/{video}/), and every video's kept faces get a mask from it. Off (the default), nothing here
# is asked for and no other rule reads it.


rule xseg_train:
    """Train the segmentation model. Its state (checkpoints, optimizer, RNG) lives in
    results/xseg/{xseg_model}/state/, not a declared output: a rerun resumes from it."""
    input:
        unpack(xseg_train_inputs),
    output:
        model="results/xseg/{xseg_model}/model.safetensors",
        preview="results/xseg/{xseg_model}/preview.jpg",
        plot="results/xseg/{xseg_model}/loss.png",
    log:
        "logs/xseg_train/{xseg_model}.log",
    benchmark:
        "benchmarks/xseg_train/{xseg_model}.tsv"
    wildcard_constraints:
        xseg_model=re.escape(config["xseg"]["name"]),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=3000,
        gpu=1,
    params:
        state="results/xseg/{xseg_model}/state",
        sources=xseg_sources,
        settings=tracked("xseg"),
        run=untracked("xseg"),
        code=code("xseg_train.py"),
    script:
        "../scripts/xseg_train.py"


rule xseg_masks:
    """A mask for every kept face of a video from the segmentation model: masks/{face_id}.png."""
    input:
        model=f"results/xseg/{config['xseg']['name']}/model.safetensors",
        table="results/videos/{video}/faces.parquet",
        faces="results/videos/{video}/faces",
    output:
        masks=directory("results/videos/{video}/masks"),
    log:
        "logs/xseg_masks/{video}.log",
    benchmark:
        "benchmarks/xseg_masks/{video}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
    params:
        settings=tracked("xseg"),
        run=untracked("xseg"),
        code=code("xseg_masks.py"),
    script:
        "../scripts/xseg_masks.py"


rule label_review:
    """The faces to outline next (results/videos/{video}/to_label/: the marked ones and those whose
    masks look least right, with their crops for LabelMe): a rule of its own, so that marking a
    face reruns nothing else."""
    input:
        unpack(label_review_inputs),
    output:
        review=directory("results/videos/{video}/to_label"),
    log:
        "logs/label_review/{video}.log",
    benchmark:
        "benchmarks/label_review/{video}.tsv"
    conda:
        ENV
    resources:
        mem_mb=1000,
    params:
        settings=tracked("curation"),
        labels=lambda wildcards: str(Path(config["xseg"]["labels_dir"]) / wildcards.video),
        code=code("label_review.py"),
    script:
        "../scripts/label_review.py"
