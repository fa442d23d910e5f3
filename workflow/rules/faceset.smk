rule faceset:
    """Score every face, apply the filters and the curation sheet, order the training set, and
    draw the contact sheets to review it."""
    input:
        table="results/videos/{video}/faces.parquet",
        faces="results/videos/{video}/faces",
        curation=curation_file,
        code=lib("sort.stage", "sort.sheet"),
    output:
        faceset="results/videos/{video}/faceset.parquet",
        sheets=report(
            directory("results/videos/{video}/sheets"),
            patterns=["{page}.png"],
            caption="../report/faceset.rst",
            category="Face sets",
        ),
    params:
        order=config["sort"]["order"],
        min_face_px=config["sort"]["min_face_px"],
        max_face_px=config["sort"]["max_face_px"],
        min_blur=config["sort"]["min_blur"],
        blur_keep=config["sort"]["blur_keep"],
        max_yaw=config["sort"]["max_yaw"],
        max_pitch=config["sort"]["max_pitch"],
        identity=config["sort"]["identity"],
        max_identity=config["sort"]["max_identity"],
        duplicate=config["sort"]["duplicate"],
        max_faces=config["sort"]["max_faces"],
        faces_per_page=config["curation"]["faces_per_page"],
    log:
        "logs/faceset/{video}.log",
    benchmark:
        "benchmarks/faceset/{video}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    conda:
        ENV
    script:
        "../scripts/faceset.py"
