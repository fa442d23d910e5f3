from swaplib.jobs import run_job
from swaplib.train import train_model

params = snakemake.params
run_job(
    snakemake,
    lambda: train_model(
        src=(snakemake.input.src_faceset, snakemake.input.src_faces),
        dst=list(zip(snakemake.input.dst_facesets, snakemake.input.dst_faces)),
        preset=params.preset,
        resolution=params.resolution,
        iterations=params.iterations,
        batch_size=params.batch_size,
        lr=params.lr,
        seed=params.seed,
        save_every=params.save_every,
        state_dir=params.state,
        model_path=snakemake.output.model,
        preview_path=snakemake.output.preview,
        history_path=snakemake.output.history,
        plot_path=snakemake.output.plot,
    ),
)
