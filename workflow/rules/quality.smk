include: "quality_inputs.smk"


# Measured swap quality per pair, and the pair's verdict page in `snakemake --report`.


rule quality:
    """Measure identity, pose/expression kept, jitter and coverage of a pair's merged frames."""
    input:
        unpack(quality_inputs),
        # Identities of every video of the run (the identification gallery), and the optional photos.
        gallery_facesets=expand("results/videos/{video}/faceset.parquet", video=sorted(SHEET.videos)),
        gallery_frames=expand("results/videos/{video}/frames", video=sorted(SHEET.videos)),
        gallery_photos=quality_gallery,
    output:
        quality="results/pairs/{pair}/quality.json",
        table=report(
            "results/pairs/{pair}/quality.csv",
            caption="../report/quality_table.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("quality of each face (CSV)"),
        ),
        plot=report(
            "results/pairs/{pair}/quality.png",
            caption="../report/quality_plot.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("quality over the clip"),
        ),
        strip=report(
            "results/pairs/{pair}/strip.jpg",
            caption="../report/strip.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("destination / swap faces"),
        ),
    log:
        "logs/quality/{pair}.log",
    benchmark:
        "benchmarks/quality/{pair}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
    params:
        settings=tracked("quality"),
        run=untracked("quality"),
        detector=config["extract"]["detector"],
        # Recorded in quality.json beside the figures they produced (as the merge had them).
        merge=merge_settings,
        code=code("quality.py"),
    script:
        "../scripts/quality.py"


rule quality_card:
    """The pair's page in the report: quality figures, merge settings and the video's provenance.

    A rule of its own so that a video setting (crf, label) redraws this page, not the measurement.
    """
    input:
        quality="results/pairs/{pair}/quality.json",
        provenance="results/pairs/{pair}.provenance.json",
    output:
        card=report(
            "results/pairs/{pair}/quality.html",
            caption="../report/quality_card.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("verdict and quality figures"),
        ),
    log:
        "logs/quality_card/{pair}.log",
    benchmark:
        "benchmarks/quality_card/{pair}.tsv"
    conda:
        ENV
    resources:
        mem_mb=500,
    params:
        code=code("quality.py"),
    script:
        "../scripts/quality.py"
