from swaplib.core.jobs import run_job
from swaplib.xseg.train import train_xseg_model

run_job(
    snakemake,
    lambda: train_xseg_model(
        sources=snakemake.params.sources.videos,  # per video: its face table, crops and labels folder
        state_dir=snakemake.params.state,
        model_path=snakemake.output.model,
        preview_path=snakemake.output.preview,
        plot_path=snakemake.output.plot,
        threads=snakemake.threads,
        **snakemake.params.settings,  # the xseg section
        **vars(snakemake.params.run),  # ... and how often it saves, on which device
    ),
)
