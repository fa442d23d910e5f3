from pathlib import Path

from swaplib.core.jobs import run_job
from swaplib.report.pages import photos_page, settings_page, table_page, video_page

inputs, outputs, wildcards = snakemake.input, snakemake.output, snakemake.wildcards


def pair_pages():
    pair = wildcards.pair
    photos = Path(inputs.result).is_dir()  # a photo folder destination's swapped photos, else the video
    page, shows = (photos_page, "photos") if photos else (video_page, "video")
    page(inputs.result, inputs.provenance, outputs.player, title=f"Pair {pair}: the swapped {shows} (synthetic)")
    table_page(inputs.table, outputs.table, title=f"Pair {pair}: quality of each face")


def model_page():
    kind = "Shared base" if wildcards.folder == "pretrained" else "Model"
    settings_page(inputs.model, outputs.page, title=f"{kind} {wildcards.name}: what it trained with")


# One adapter for the report's pages.
run_job(snakemake, {"pair_pages": pair_pages, "model_page": model_page}[snakemake.rule])
