from swaplib.core.jobs import run_job
from swaplib.video.frames import extract_frames

run_job(
    snakemake,
    lambda: extract_frames(
        snakemake.params.source,  # the video, or the photo folder whose photos are the inputs
        snakemake.output.frames,
        snakemake.output.info,
        threads=snakemake.threads,
        **snakemake.params.settings,  # the frames section; fps, start, end None for a photo folder
    ),
)
