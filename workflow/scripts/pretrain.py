from swaplib.core.jobs import run_job
from swaplib.train import pretrain_model

run_job(
    snakemake,
    lambda: pretrain_model(
        sources=list(zip(snakemake.input.facesets, snakemake.input.faces)),
        state_dir=snakemake.params.state,
        model_path=snakemake.output.model,
        preview_path=snakemake.output.preview,
        history_path=snakemake.output.history,
        plot_path=snakemake.output.plot,
        threads=snakemake.threads,
        **{k: v for k, v in snakemake.params.settings.items() if k != "sources"},  # names: the inputs are the faces
        **vars(snakemake.params.run),
    ),
)
