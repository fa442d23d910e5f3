include: "faces_inputs.smk"


rule faces:
    """Detect faces and 68 landmarks on every frame, keep the wanted person, smooth over time;
    write aligned crops and faces.parquet."""
    input:
        frames="results/videos/{video}/frames",
        info="results/videos/{video}/video.json",
        # The video's reference photo (sheet column or extract.references), if any.
        reference=reference_photo,
        manual=manual_faces,
    output:
        faces=directory("results/videos/{video}/faces"),
        table="results/videos/{video}/faces.parquet",
    log:
        "logs/faces/{video}.log",
    benchmark:
        "benchmarks/faces/{video}.tsv"
    conda:
        ENV
    # Frames are spread over worker processes; Snakemake lowers this to --cores when fewer.
    threads: 8
    resources:
        mem_mb=3000,
    params:
        settings=tracked("extract"),
        run=untracked("extract"),
        code=code("faces.py"),
    script:
        "../scripts/faces.py"


rule faces_to_check:
    """The frames extraction doubts (a missed face, a landmark jump, a low score, a crop turned away
    from its neighbours): to_check.tsv, which `swaplib review` shows with the landmarks drawn."""
    input:
        table="results/videos/{video}/faces.parquet",
        frames="results/videos/{video}/frames",
        info="results/videos/{video}/video.json",
    output:
        "results/videos/{video}/to_check.tsv",
    log:
        "logs/faces_to_check/{video}.log",
    conda:
        ENV
    params:
        code=code("faces_to_check.py"),
    script:
        "../scripts/faces_to_check.py"
