from swaplib.core.jobs import run_job
from swaplib.extract.stage import extract_faces
from swaplib.video.frames import read_info

reference = snakemake.input.reference  # a one-item list when extract.references names a photo


def extract():
    info = read_info(snakemake.input.info)  # a folder of photos: kind "photos", fps null
    return extract_faces(
        snakemake.input.frames,
        snakemake.output.faces,
        snakemake.output.table,
        reference=reference[0] if reference else None,
        fps=info["fps"],
        photos=info.get("kind") == "photos",
        threads=snakemake.threads,
        **snakemake.params.settings,  # the extract section (detector and its options too)
        **vars(snakemake.params.run),
    )


run_job(snakemake, extract)
