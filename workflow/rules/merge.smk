rule merge:
    """Swap the face in every destination frame; frames without a face pass through, and faces
    that cannot be swapped are listed in merge.json with the reason."""
    input:
        unpack(merge_inputs),
        overrides=merge_overrides,  # optional merge/{pair}.tsv, tracked like a curation sheet
        code=lib("merge.stage"),
    output:
        merged=directory("results/pairs/{pair}/merged"),
        report="results/pairs/{pair}/merge.json",
    params:
        mode=config["merge"]["mode"],
        mask=config["merge"]["mask"],
        color_transfer=config["merge"]["color_transfer"],
        erode=config["merge"]["erode"],
        blur=config["merge"]["blur"],
        motion_blur=config["merge"]["motion_blur"],
        face_scale=config["merge"]["face_scale"],
        sharpen=config["merge"]["sharpen"],
        sharpen_amount=config["merge"]["sharpen_amount"],
        hist_match_threshold=config["merge"]["hist_match_threshold"],
        denoise=config["merge"]["denoise"],
        bicubic_degrade=config["merge"]["bicubic_degrade"],
        color_degrade=config["merge"]["color_degrade"],
        precision=config["merge"]["precision"],
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
