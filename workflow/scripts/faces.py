from swaplib.core.jobs import run_job
from swaplib.extract.stage import extract_faces
from swaplib.video.frames import read_info

reference = snakemake.input.reference  # a one-item list when extract.references names a photo
manual = snakemake.input.manual  # a one-item list when the video has faces placed by hand


def extract():
    info = read_info(snakemake.input.info)  # a folder of photos: kind "photos", fps null
    return extract_faces(
        snakemake.input.frames,
        snakemake.output.faces,
        snakemake.output.table,
        reference=reference[0] if reference else None,
        manual=manual[0] if manual else None,
        fps=info["fps"],
        photos=info.get("kind") == "photos",
        threads=snakemake.threads,
        **snakemake.params.settings,  # the extract section (detector and its options too)
        **vars(snakemake.params.run),
    )


run_job(snakemake, extract)
