from swaplib.core.jobs import run_job
from swaplib.extract.detect import make_detector
from swaplib.extract.faces import extract_faces
from swaplib.video import read_info

reference = snakemake.input.reference  # a one-item list when extract.references names a photo
settings = {**snakemake.params.settings, **vars(snakemake.params.run)}  # the extract section
# The detector's own settings build it; the rest are extract_faces' keywords.
detector = {key: settings.pop(key) for key in ("detector", "landmarks", "fan_weights", "upsample", "multiscale",
                                                "min_size", "min_score")}
settings["image_format"] = settings.pop("format")  # extract_faces' name for extract.format


def extract():
    info = read_info(snakemake.input.info)  # a folder of photos: kind "photos", fps null
    return extract_faces(
        snakemake.input.frames,
        snakemake.output.faces,
        snakemake.output.table,
        detector=make_detector(detector.pop("detector"), weights=detector.pop("fan_weights"), **detector),
        reference=reference[0] if reference else None,
        fps=info["fps"],
        photos=info.get("kind") == "photos",
        threads=snakemake.threads,
        **settings,
    )


run_job(snakemake, extract)
