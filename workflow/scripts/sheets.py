from swaplib.core.jobs import run_job
from swaplib.sort.contact_sheet import write_faceset_sheets

run_job(
    snakemake,
    lambda: write_faceset_sheets(
        snakemake.input.faceset,
        snakemake.input.faces,
        snakemake.output.sheets,
        title=snakemake.params.title,
        faces_per_page=snakemake.params.settings["faces_per_page"],
        masks_dir=snakemake.input.get("masks"),  # with curation.show_masks
    ),
)
