from swaplib.core.jobs import run_job
from swaplib.sort.stage import build_faceset

run_job(
    snakemake,
    lambda: build_faceset(
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.output.faceset,
        curation_path=snakemake.input.curation[0] if snakemake.input.curation else None,
        threads=snakemake.threads,
        **snakemake.params.settings,  # the sort section
        **vars(snakemake.params.run),
    ),
)
