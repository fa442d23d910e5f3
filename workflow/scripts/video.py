from swaplib.core.jobs import run_job
from swaplib.video.encode import encode_video
from swaplib.video.frames import read_info
from swaplib.video.marks import input_record

params = snakemake.params


def encode():
    info = read_info(snakemake.input.info)  # the destination's frames: their rate and where they start
    encode_video(
        snakemake.input.merged,
        snakemake.output.video,
        fps=info["fps_fraction"],
        audio_source=snakemake.input.get("audio"),  # none for the mask video
        audio_start=info.get("start") or 0.0,  # frames cut from the destination keep their audio in sync
        # the inputs as their frames stage hashed them, not hashed again here
        provenance={**params.provenance, "source": input_record(read_info(snakemake.input.source_info)),
                    "destination": input_record(info)},
        merge_report=snakemake.input.merge_report,
        compare_dir=snakemake.input.get("compare"),  # the review rule's destination frames
        **params.settings,  # the video section: crf, preset, lossless, label, label_corner
        **vars(params.run),
    )


run_job(snakemake, encode)
