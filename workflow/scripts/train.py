from swaplib.core.jobs import run_job
from swaplib.train import train_model

run_job(
    snakemake,
    lambda: train_model(
        src=(snakemake.input.src_faceset, snakemake.input.src_faces),
        dst=list(zip(snakemake.input.dst_facesets, snakemake.input.dst_faces)),
        state_dir=snakemake.params.state,
        model_path=snakemake.output.model,
        preview_path=snakemake.output.preview,
        history_path=snakemake.output.history,
        plot_path=snakemake.output.plot,
        threads=snakemake.threads,
        base=snakemake.input.get("base"),  # the shared base, with train.from_base
        **snakemake.params.settings,  # the train section (architecture, recipe)
        **vars(snakemake.params.run),  # ... and how often it saves, backs up and previews
    ),
)
