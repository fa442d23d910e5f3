from swaplib.core.jobs import run_job
from swaplib.xseg.apply import write_masks

run_job(
    snakemake,
    lambda: write_masks(
        snakemake.input.model,
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.output.masks,
        device=vars(snakemake.params.run).get("device", "auto"),
        threads=snakemake.threads,
    ),
)
