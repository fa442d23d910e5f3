from swaplib.core.jobs import run_job
from swaplib.report.pages import settings_page, table_page, video_page

inputs, outputs, wildcards = snakemake.input, snakemake.output, snakemake.wildcards


def pair_pages():
    pair = wildcards.pair
    video_page(inputs.video, inputs.provenance, outputs.player, title=f"Pair {pair}: the swapped video (synthetic)")
    table_page(inputs.table, outputs.table, title=f"Pair {pair}: quality of each face")


def model_page():
    kind = "Shared base" if wildcards.folder == "pretrained" else "Model"
    settings_page(inputs.model, outputs.page, title=f"{kind} {wildcards.name}: what it trained with")


# One adapter for the report's pages.
run_job(snakemake, {"pair_pages": pair_pages, "model_page": model_page}[snakemake.rule])
