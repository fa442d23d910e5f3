from swaplib.jobs import run_job
from swaplib.video import encode_video, read_info

run_job(
    snakemake,
    lambda: encode_video(
        snakemake.input.merged,
        snakemake.output.video,
        fps=read_info(snakemake.input.info)["fps_fraction"],
        audio_source=snakemake.input.audio,
        crf=snakemake.params.crf,
        label=snakemake.params.label or None,
        provenance=dict(snakemake.params.provenance),
    ),
)
