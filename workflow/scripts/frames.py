from swaplib.jobs import run_job
from swaplib.video import extract_frames

run_job(
    snakemake,
    lambda: extract_frames(
        snakemake.input.video,
        snakemake.output.frames,
        snakemake.output.info,
        limit=snakemake.params.limit,
        image_format=snakemake.params.image_format,
    ),
)
