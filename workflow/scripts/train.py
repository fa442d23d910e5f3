from swaplib.core.jobs import run_job
from swaplib.train.loop import job_files, train_model

run_job(
    snakemake,
    lambda: train_model(
        src=(snakemake.input.src_faceset, snakemake.input.src_faces),
        dst=list(zip(snakemake.input.dst_facesets, snakemake.input.dst_faces)),
        base=snakemake.input.get("base"),  # the shared base, with train.from_base
        src_masks=snakemake.input.get("src_masks"),  # the XSeg masks, with train.masks xseg
        dst_masks=snakemake.input.get("dst_masks"),
        threads=snakemake.threads,
        **job_files(snakemake),  # state folder, model, preview, loss history and plot
        **snakemake.params.settings,  # the train section (architecture, recipe)
        **vars(snakemake.params.run),  # ... and how often it saves, backs up and previews
    ),
)
