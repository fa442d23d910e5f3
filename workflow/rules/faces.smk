rule faces:
    """Detect faces and 68 landmarks on every frame, keep the wanted person, smooth over time;
    write aligned crops and faces.parquet."""
    input:
        frames="results/videos/{video}/frames",
        info="results/videos/{video}/video.json",
        # The video's reference photo (sheet column or extract.references), if any.
        reference=reference_photo,
        code=lib("extract.stage", "video"),
    output:
        faces=directory("results/videos/{video}/faces"),
        table="results/videos/{video}/faces.parquet",
    params:
        detector=config["extract"]["detector"],
        landmarks=config["extract"]["landmarks"],
        fan_weights=config["extract"]["fan_weights"],
        upsample=config["extract"]["upsample"],
        multiscale=config["extract"]["multiscale"],
        min_size=config["extract"]["min_size"],
        min_score=config["extract"]["min_score"],
        size=config["extract"]["size"],
        face_type=config["extract"]["face_type"],
        select=config["extract"]["select"],
        tolerance=config["extract"]["tolerance"],
        embed_every=config["extract"]["embed_every"],
        smooth=config["extract"]["smooth"],
        smooth_cutoff=config["extract"]["smooth_cutoff"],
        smooth_beta=config["extract"]["smooth_beta"],
        image_format=config["extract"]["format"],
    log:
        "logs/faces/{video}.log",
    benchmark:
        "benchmarks/faces/{video}.tsv"
    # Frames are spread over worker processes; Snakemake lowers this to --cores when fewer.
    threads: 8
    resources:
        mem_mb=3000,
    conda:
        ENV
    script:
        "../scripts/faces.py"
