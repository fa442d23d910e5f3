from swaplib.core.jobs import run_job
from swaplib.video.frames import extract_frames

params = snakemake.params
run_job(
    snakemake,
    lambda: extract_frames(
        params.source,  # the video, or the photo folder whose photos are the inputs
        snakemake.output.frames,
        snakemake.output.info,
        limit=params.limit,
        format=params.image_format,
        jpg_quality=params.jpg_quality,
        fps=params.fps,  # fps, start, end: None for a photo folder
        start=params.start or 0.0,
        end=params.end or 0.0,
        threads=snakemake.threads,
    ),
)
