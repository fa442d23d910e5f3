# The video's input functions: a pair's merged frames, its videos' info and the audio (or the photos).
# Beside video.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def video_inputs(wildcards):
    pair = PAIRS.loc[wildcards.pair]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "info": f"results/videos/{pair['destination_video']}/video.json",
        "source_info": f"results/videos/{pair['source_video']}/video.json",
        "audio": local(pair["destination"]),
    }


def mask_video_inputs(wildcards):
    """The pair's merge masks in place of its merged frames, and no audio (a matte)."""
    inputs = {**video_inputs(wildcards), "merged": f"results/pairs/{wildcards.pair}/merged_mask"}
    del inputs["audio"]
    return inputs


# What a mask video's sidecar says its pictures are.
MASK_PICTURE = "the merge mask: white where a swapped face covers the frame, a matte for compositing"


def photos_inputs(wildcards):
    """A photo pair's merged frames and its videos' info, and the destination's photos (each one's hash
    names it in its swapped photo's manifest, and its colour profile is kept): no audio."""
    inputs = video_inputs(wildcards)
    del inputs["audio"]
    folder = VIDEOS[PAIRS.loc[wildcards.pair, "destination_video"]]
    return {**inputs, "originals": [local(photo) for photo in photo_files(folder)]}
