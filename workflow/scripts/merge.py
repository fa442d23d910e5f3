from swaplib.core.jobs import run_job
from swaplib.merge.stage import merge_video

run_job(
    snakemake,
    lambda: merge_video(
        snakemake.input.frames,
        snakemake.input.faces,
        snakemake.input.model,
        snakemake.output.merged,
        report=snakemake.output.report,
        masks_dir=snakemake.output.masks,  # each frame's merge mask, for compositing
        overrides=snakemake.input.overrides[0] if snakemake.input.overrides else None,
        xseg_model=snakemake.input.get("xseg"),  # with an xseg-* mask
        threads=snakemake.threads,
        **snakemake.params.settings,  # the merge section
        **vars(snakemake.params.run),
    ),
)
