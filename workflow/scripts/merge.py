from swaplib.jobs import run_job
from swaplib.merge import merge_video

params = snakemake.params
run_job(
    snakemake,
    lambda: merge_video(
        snakemake.input.frames,
        snakemake.input.faces,
        snakemake.input.model,
        snakemake.output.merged,
        mode=params.mode,
        color_transfer=params.color_transfer,
        mask=params.mask,
        erode=params.erode,
        blur=params.blur,
    ),
)
