include: "frames_inputs.smk"


rule frames:
    """Decode a video (or take a folder's photos) into numbered frame images; record their
    properties in video.json."""
    input:
        video=video_file,
    output:
        frames=directory("results/videos/{video}/frames"),
        info="results/videos/{video}/video.json",
    log:
        "logs/frames/{video}.log",
    benchmark:
        "benchmarks/frames/{video}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=1000,
    params:
        source=video_source,
        settings=frames_settings,
        code=code("frames.py"),
    script:
        "../scripts/frames.py"
