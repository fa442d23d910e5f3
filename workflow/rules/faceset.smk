rule faceset:
    """Score every face, apply filters and curation, and order the training set."""
    input:
        table="results/videos/{video}/faces.parquet",
        faces="results/videos/{video}/faces",
        curation=curation_file,
        code=lib("sort"),
    output:
        faceset="results/videos/{video}/faceset.parquet",
        sheet=report("results/videos/{video}/faceset.jpg", caption="../report/faceset.rst", category="Face sets"),
    params:
        min_face_px=config["sort"]["min_face_px"],
        blur_keep=config["sort"]["blur_keep"],
        max_faces=config["sort"]["max_faces"],
    log:
        "logs/faceset/{video}.log",
    benchmark:
        "benchmarks/faceset/{video}.tsv"
    resources:
        mem_mb=1000,
    conda:
        ENV
    script:
        "../scripts/faceset.py"
