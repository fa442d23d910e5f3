rule video:
    """Encode the merged frames at the destination's fps, with its audio, marked synthetic."""
    input:
        unpack(video_inputs),
        code=lib("video"),
    output:
        video=report("results/pairs/{pair}.mp4", caption="../report/video.rst", category="Videos"),
        provenance="results/pairs/{pair}.provenance.json",
    params:
        crf=config["video"]["crf"],
        label=config["video"]["label"],
        provenance=provenance,
    log:
        "logs/video/{pair}.log",
    benchmark:
        "benchmarks/video/{pair}.tsv"
    threads: 2
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/video.py"
