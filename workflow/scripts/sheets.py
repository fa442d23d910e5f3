from swaplib.core.jobs import run_job
from swaplib.sort.sheet import write_faceset_sheets

run_job(
    snakemake,
    lambda: write_faceset_sheets(
        snakemake.input.faceset,
        snakemake.input.faces,
        snakemake.output.sheets,
        title=snakemake.params.title,
        **snakemake.params.settings,  # the curation section: faces_per_page
    ),
)
