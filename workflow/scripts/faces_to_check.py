from swaplib.core.jobs import run_job
from swaplib.extract.doubts import write_frames_to_check
from swaplib.video.frames import read_info


def check():
    info = read_info(snakemake.input.info)
    return write_frames_to_check(snakemake.input.table, snakemake.input.frames, snakemake.output[0],
                                 photos=info.get("kind") == "photos")


run_job(snakemake, check)
