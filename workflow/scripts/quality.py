from swaplib.core.jobs import run_job
from swaplib.quality import measure_pair, write_card

inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params


def measure():
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
        settings=dict(params.merge),
        detector=params.detector,
        **params.settings,  # the quality section
        **vars(params.run),
    )


def card():
    write_card(inputs.quality, inputs.provenance, outputs.card, title=f"Pair {snakemake.wildcards.pair}")


# One adapter for the pair's two rules: the measurement and its page in the report.
run_job(snakemake, {"quality": measure, "quality_card": card}[snakemake.rule])
