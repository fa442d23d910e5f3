from swaplib.jobs import run_job
from swaplib.video import encode_video, read_info

params = snakemake.params
run_job(
    snakemake,
    lambda: encode_video(
        snakemake.input.merged,
        snakemake.output.video,
        fps=read_info(snakemake.input.info)["fps_fraction"],
        audio_source=snakemake.input.audio,
        crf=params.crf,
        preset=params.preset,
        lossless=params.lossless,
        label=params.label or None,
        label_corner=params.label_corner,
        provenance=dict(params.provenance),
        merge_report=snakemake.input.merge_report,
        compare_dir=snakemake.input.get("compare"),  # the review rule's destination frames
    ),
)
