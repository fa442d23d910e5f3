from swaplib.jobs import run_job
from swaplib.sort import build_faceset

run_job(
    snakemake,
    lambda: build_faceset(
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.output.faceset,
        snakemake.output.sheet,
        curation_path=snakemake.input.curation[0] if snakemake.input.curation else None,
        min_face_px=snakemake.params.min_face_px,
        blur_keep=snakemake.params.blur_keep,
        max_faces=snakemake.params.max_faces,
    ),
)
