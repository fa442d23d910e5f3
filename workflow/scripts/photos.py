from swaplib.core.jobs import run_job
from swaplib.video.frames import read_info
from swaplib.video.marks import input_record
from swaplib.video.stills import write_photos

inputs, params = snakemake.input, snakemake.params


def write():
    info = read_info(inputs.info)  # the destination's photos: each one's name and size, in frame order
    write_photos(
        inputs.merged,
        snakemake.output.photos,
        photos=info["photos"],
        originals=inputs.originals,
        # the inputs as their frames stage hashed them, not hashed again here
        provenance={**params.provenance, "source": input_record(read_info(inputs.source_info)),
                    "destination": input_record(info)},
        merge_report=inputs.merge_report,
        threads=snakemake.threads,
        **params.settings,  # the video section's label, label_corner and c2pa
    )


run_job(snakemake, write)
