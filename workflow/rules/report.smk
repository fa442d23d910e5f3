# The pages of `snakemake --report` that no stage writes: a pair's video in a player and its per-face
# table, a model's settings. Light rules (the Snakefile's localrules), each of a second or so.


# The report's front page (a global directive).
report: "../report/workflow.rst"


rule pair_pages:
    """The pair's swapped video in a player (the video inside the page, said to be synthetic; a photo
    pair's swapped photos in a grid) and its per-face quality table, as pages of the report beside
    quality.html (the verdict page)."""
    input:
        result=lambda wildcards: pair_result(wildcards.pair),
        provenance="results/pairs/{pair}.provenance.json",
        table="results/pairs/{pair}/quality.csv",
    output:
        player=report(
            "results/pairs/{pair}/player.html",
            caption="../report/video.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("swapped video (synthetic)"),
        ),
        table=report(
            "results/pairs/{pair}/quality_table.html",
            caption="../report/quality_table.rst",
            category=REPORT_PAIRS,
            subcategory=pair_section,
            labels=pair_labels("quality of each face"),
        ),
    log:
        "logs/pair_pages/{pair}.log",
    benchmark:
        "benchmarks/pair_pages/{pair}.tsv"
    conda:
        ENV
    resources:
        mem_mb=500,  # the video is copied into its page piece by piece
    params:
        code=code("report.py"),
    script:
        "../scripts/report.py"


rule model_page:
    """What a model (or the shared base) trained with, from its file's header: the first entry of
    the model in the report."""
    input:
        model="results/{folder}/{name}/model.safetensors",
    output:
        page=report(
            "results/{folder}/{name}/settings.html",
            caption="../report/settings.rst",
            category=REPORT_MODELS,
            subcategory=model_section,
            labels=model_labels("settings it trained with"),
        ),
    log:
        "logs/model_page/{folder}/{name}.log",
    benchmark:
        "benchmarks/model_page/{folder}/{name}.tsv"
    wildcard_constraints:
        folder="models|pretrained",
        name="|".join(map(re.escape, [*MODELS, BASE])),
    conda:
        ENV
    resources:
        mem_mb=1000,
    params:
        code=code("report.py"),
    script:
        "../scripts/report.py"
