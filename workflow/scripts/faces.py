from swaplib.detect import make_detector
from swaplib.faces import extract_faces
from swaplib.jobs import run_job

params = snakemake.params
run_job(
    snakemake,
    lambda: extract_faces(
        snakemake.input.frames,
        snakemake.output.faces,
        snakemake.output.table,
        detector=make_detector(params.detector, upsample=params.upsample),
        size=params.size,
        face_type=params.face_type,
        image_format=params.image_format,
        max_faces=params.max_faces,
    ),
)
