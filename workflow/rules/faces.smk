rule faces:
    """Detect faces and 68 landmarks on every frame; write aligned crops and faces.parquet."""
    input:
        frames="results/videos/{video}/frames",
        info="results/videos/{video}/video.json",
        code=lib("faces", "detect", "align"),
    output:
        faces=directory("results/videos/{video}/faces"),
        table="results/videos/{video}/faces.parquet",
    params:
        detector=config["extract"]["detector"],
        upsample=config["extract"]["upsample"],
        size=config["extract"]["size"],
        face_type=config["extract"]["face_type"],
        max_faces=config["extract"]["max_faces"],
        image_format=config["extract"]["format"],
    log:
        "logs/faces/{video}.log",
    benchmark:
        "benchmarks/faces/{video}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/faces.py"
