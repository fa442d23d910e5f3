from swaplib.core.jobs import run_job
from swaplib.extract.detect import make_detector
from swaplib.extract.faces import extract_faces
from swaplib.video.frames import read_info

params = snakemake.params
reference = snakemake.input.reference  # a one-item list when extract.references names a photo


def extract():
    info = read_info(snakemake.input.info)  # a folder of photos: kind "photos", fps null
    return extract_faces(
        snakemake.input.frames,
        snakemake.output.faces,
        snakemake.output.table,
        detector=make_detector(
            params.detector, landmarks=params.landmarks, weights=params.fan_weights, upsample=params.upsample,
            multiscale=params.multiscale, min_size=params.min_size, min_score=params.min_score,
        ),
        size=params.size,
        face_type=params.face_type,
        image_format=params.image_format,
        select=params.select,
        reference=reference[0] if reference else None,
        tolerance=params.tolerance,
        embed_every=params.embed_every,
        smooth=params.smooth,
        smooth_cutoff=params.smooth_cutoff,
        smooth_beta=params.smooth_beta,
        fps=info["fps"],
        photos=info.get("kind") == "photos",
        threads=snakemake.threads,
    )


run_job(snakemake, extract)
