from swaplib.core.jobs import run_job
from swaplib.train.loop import job_files, pretrain_model

run_job(
    snakemake,
    lambda: pretrain_model(
        sources=list(zip(snakemake.input.facesets, snakemake.input.faces)),
        threads=snakemake.threads,
        **job_files(snakemake),
        **{k: v for k, v in snakemake.params.settings.items() if k != "sources"},  # names: the inputs are the faces
        **vars(snakemake.params.run),
    ),
)
