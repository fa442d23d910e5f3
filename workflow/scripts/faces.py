from swaplib.core.jobs import run_job
from swaplib.extract.stage import extract_faces
from swaplib.video import read_info

settings = dict(snakemake.params.items())  # the extract settings, each a param of the rule
settings["format"] = settings.pop("image_format")
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
        **settings,
    )


run_job(snakemake, extract)
