rule merge:
    """Swap the face in every destination frame; frames without a face pass through."""
    input:
        unpack(merge_inputs),
        code=lib("merge"),
    output:
        merged=directory("results/pairs/{pair}/merged"),
    params:
        mode=config["merge"]["mode"],
        color_transfer=config["merge"]["color_transfer"],
        mask=config["merge"]["mask"],
        erode=config["merge"]["erode"],
        blur=config["merge"]["blur"],
    log:
        "logs/merge/{pair}.log",
    benchmark:
        "benchmarks/merge/{pair}.tsv"
    threads: 2
    resources:
        mem_mb=3000,
        gpu=1,
    conda:
        ENV
    script:
        "../scripts/merge.py"
