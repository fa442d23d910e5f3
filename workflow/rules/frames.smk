rule frames:
    """Decode a video (or take a folder's photos) into numbered frame images; record their
    properties in video.json."""
    input:
        video=video_file,
        code=lib("video"),
    output:
        frames=directory("results/videos/{video}/frames"),
        info="results/videos/{video}/video.json",
    params:
        source=video_source,
        limit=config["frames"]["limit"],
        image_format=config["frames"]["format"],
        # Only jpg frames depend on it: a png run does not redo extraction when it changes.
        jpg_quality=config["frames"]["jpg_quality"] if config["frames"]["format"] == "jpg" else 100,
        fps=time_setting("fps"),
        start=time_setting("start"),
        end=time_setting("end"),
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
