include: "merge_inputs.smk"


rule merge:
    """Swap the face in every destination frame; frames without a face pass through, and faces
    that cannot be swapped are listed in merge.json with the reason. merged_mask/ holds each frame's
    merge mask (white where a swapped face covers it), for compositing."""
    input:
        unpack(merge_inputs),
        overrides=merge_overrides,  # optional merge/{pair}.tsv, tracked like a curation sheet
    output:
        merged=directory("results/pairs/{pair}/merged"),
        masks=directory("results/pairs/{pair}/merged_mask"),
        report="results/pairs/{pair}/merge.json",
    log:
        "logs/merge/{pair}.log",
    benchmark:
        "benchmarks/merge/{pair}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=3000,
        gpu=1,
    params:
        settings=merge_settings,
        run=untracked("merge"),
        code=code("merge.py"),
    script:
        "../scripts/merge.py"
