rule frames:
    """Decode a video into numbered frame images and record its properties in video.json."""
    input:
        video=video_file,
        code=lib("video"),
    output:
        frames=directory("results/videos/{video}/frames"),
        info="results/videos/{video}/video.json",
    params:
        limit=config["frames"]["limit"],
        image_format=config["frames"]["format"],
    log:
        "logs/frames/{video}.log",
    benchmark:
        "benchmarks/frames/{video}.tsv"
    threads: 2
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/frames.py"
