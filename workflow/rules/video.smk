include: "video_inputs.smk"


rule video:
    """Encode the merged frames at the destination's fps, with its audio, marked synthetic."""
    input:
        unpack(video_inputs),
        merge_report="results/pairs/{pair}/merge.json",
    output:
        # In the report inside its pair's player page (rule pair_pages), not as a download of its own.
        video="results/pairs/{pair}.mp4",
        provenance="results/pairs/{pair}.provenance.json",
    log:
        "logs/video/{pair}.log",
    benchmark:
        "benchmarks/video/{pair}.tsv"
    wildcard_constraints:
        pair=one_of(VIDEO_PAIRS),  # a photo pair's result and sidecar: rule photos
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=1000,
    params:
        settings=tracked("video"),
        run=untracked("video"),
        provenance=provenance,
        code=code("video.py"),
    script:
        "../scripts/video.py"


use rule video as review with:
    """Destination | swap side by side, for review; built only when asked for:
    snakemake results/pairs/{pair}.review.mp4"""
    input:
        unpack(video_inputs),
        compare=lambda wildcards: merge_inputs(wildcards)["frames"],
        merge_report="results/pairs/{pair}/merge.json",
    output:
        video="results/pairs/{pair}.review.mp4",
        provenance="results/pairs/{pair}.review.provenance.json",
    log:
        "logs/review/{pair}.log",
    benchmark:
        "benchmarks/review/{pair}.tsv"


use rule video as mask_video with:
    """The merge masks (white where a swapped face covers the frame) as a lossless video beside the
    swap, frame for frame, for compositing: with video.mask_output video. No visible label (it would
    be part of the matte); the container tags, the sidecar and the C2PA manifest say synthetic."""
    input:
        unpack(mask_video_inputs),
        merge_report="results/pairs/{pair}/merge.json",
    output:
        video="results/pairs/{pair}.mask.mp4",
        provenance="results/pairs/{pair}.mask.provenance.json",
    log:
        "logs/mask_video/{pair}.log",
    benchmark:
        "benchmarks/mask_video/{pair}.tsv"
    params:
        settings=lambda wildcards: {**tracked("video"), "lossless": True, "label": ""},
        run=untracked("video"),
        provenance=lambda wildcards: {**provenance(wildcards), "picture": MASK_PICTURE},
        code=code("video.py"),


rule photos:
    """A photo folder destination's merged frames as photos again, one per destination photo, named
    after it and in its format, each marked synthetic (label, metadata, C2PA); one sidecar for all."""
    input:
        unpack(photos_inputs),
        merge_report="results/pairs/{pair}/merge.json",
    output:
        photos=directory("results/pairs/{pair}.photos"),
        provenance="results/pairs/{pair}.provenance.json",
    log:
        "logs/photos/{pair}.log",
    benchmark:
        "benchmarks/photos/{pair}.tsv"
    wildcard_constraints:
        pair=one_of(PHOTO_PAIRS),
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=1000,
    params:
        # The label and the manifest; x264's settings make no photo, so they rerun none.
        settings=tracked("video", unused=("crf", "preset", "lossless")),
        provenance=provenance,
        code=code("photos.py"),
    script:
        "../scripts/photos.py"
