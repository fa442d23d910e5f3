include: "faceset_inputs.smk"


rule faceset:
    """Score every face, apply the filters and the curation sheet, and order the training set."""
    input:
        table="results/videos/{video}/faces.parquet",
        faces="results/videos/{video}/faces",
        curation=curation_file,
    output:
        faceset="results/videos/{video}/faceset.parquet",
    log:
        "logs/faceset/{video}.log",
    benchmark:
        "benchmarks/faceset/{video}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=2000,
    params:
        settings=tracked("sort"),
        run=untracked("sort"),
        code=code("faceset.py"),
    script:
        "../scripts/faceset.py"


rule sheets:
    """Contact sheets of a face set, to review it: a rule of its own, so that a change to how they
    are drawn reruns no training."""
    input:
        unpack(sheet_inputs),
    output:
        sheets=report(
            directory("results/videos/{video}/sheets"),
            patterns=["page-{page}.png"],
            caption="../report/faceset.rst",
            category=REPORT_FACE_SETS,
            subcategory="{video}",
            labels={"shows": "contact sheet {page}", "video": "{video}"},
        ),
    log:
        "logs/sheets/{video}.log",
    benchmark:
        "benchmarks/sheets/{video}.tsv"
    conda:
        ENV
    resources:
        mem_mb=1000,
    params:
        settings=tracked("curation", unused=["suggest_labels"]),  # that one: label_review's
        title=lambda wildcards: f"{wildcards.video}: order {config['sort']['order']}",
        code=code("sheets.py"),
    script:
        "../scripts/sheets.py"
