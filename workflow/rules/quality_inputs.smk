# Quality's input functions: what a pair's measure reads.
# Beside quality.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def quality_inputs(wildcards):
    """A pair's merged frames, its destination's frames, faces and video.json (photos: no jitter between
    them), both face sets (the identities), and the model that merged (its resolution bounds the
    sharpness a swap can reach)."""
    pair = PAIRS.loc[wildcards.pair]
    source, destination = pair["source_video"], pair["destination_video"]
    return {
        "merged": f"results/pairs/{wildcards.pair}/merged",
        "model": f"results/models/{pair['model']}/model.safetensors",
        "frames": f"results/videos/{destination}/frames",
        "info": f"results/videos/{destination}/video.json",
        "faces": f"results/videos/{destination}/faces.parquet",
        "dst_faceset": f"results/videos/{destination}/faceset.parquet",
        "src_frames": f"results/videos/{source}/frames",
        "src_faceset": f"results/videos/{source}/faceset.parquet",
    }


def quality_gallery(wildcards):
    """The quality.gallery folder of photos, when one is set: its photos join the identification gallery."""
    return [config["quality"]["gallery"]] if config["quality"].get("gallery") else []
