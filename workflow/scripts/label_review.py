from swaplib.core.jobs import run_job
from swaplib.xseg.review import write_label_review

run_job(
    snakemake,
    lambda: write_label_review(
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.input.masks,
        snakemake.output.review,
        marks=snakemake.input.get("marks"),
        labels_dir=snakemake.params.labels,
        suggest_labels=snakemake.params.settings["suggest_labels"],
        faces_per_page=snakemake.params.settings["faces_per_page"],
    ),
)
