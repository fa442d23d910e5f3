from pathlib import Path

from swaplib.core.jobs import run_job
from swaplib.quality.stage import measure_pair, write_card
from swaplib.video.frames import read_info

inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params


def measure():
    # Each gallery face set is named by its video (results/videos/{video}/faceset.parquet).
    others = {
        Path(faceset).parent.name: (faceset, frames)
        for faceset, frames in zip(inputs.gallery_facesets, inputs.gallery_frames)
    }
    measure_pair(
        destination_frames=inputs.frames,
        destination_faces=inputs.faces,
        destination_faceset=inputs.dst_faceset,
        source_frames=inputs.src_frames,
        source_faceset=inputs.src_faceset,
        merged=inputs.merged,
        quality_json=outputs.quality,
        table_path=outputs.table,
        plot_path=outputs.plot,
        strip_path=outputs.strip,
        settings={**params.settings, **vars(params.run)},  # the quality section
        merge=dict(params.merge),  # recorded beside the figures
        others=others,
        detector=params.detector,
        model=inputs.model,
        photos=read_info(inputs.info).get("kind") == "photos",  # a photo folder destination: no jitter
    )


def card():
    write_card(inputs.quality, inputs.provenance, outputs.card, title=f"Pair {snakemake.wildcards.pair}")


# One adapter for the pair's two rules: the measurement and its page in the report.
run_job(snakemake, {"quality": measure, "quality_card": card}[snakemake.rule])
