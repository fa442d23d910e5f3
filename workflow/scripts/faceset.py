from swaplib.core.jobs import run_job
from swaplib.sort import build_faceset

run_job(
    snakemake,
    lambda: build_faceset(
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.output.faceset,
        snakemake.output.sheets,
        curation_path=snakemake.input.curation[0] if snakemake.input.curation else None,
        threads=snakemake.threads,
        **dict(snakemake.params.items()),  # the sort settings, each a param of the rule
    ),
)
