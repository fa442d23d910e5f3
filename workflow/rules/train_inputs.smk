# Training's input functions: a model's videos and face sets.
# Beside train.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def model_videos(model):
    rows = PAIRS[PAIRS["model"] == model]
    return rows["source_video"].iloc[0], sorted(rows["destination_video"].unique())


def train_inputs(wildcards):
    source, destinations = model_videos(wildcards.model)
    inputs = {
        "src_faceset": f"results/videos/{source}/faceset.parquet",
        "src_faces": f"results/videos/{source}/faces",
        "dst_facesets": expand("results/videos/{video}/faceset.parquet", video=destinations),
        "dst_faces": expand("results/videos/{video}/faces", video=destinations),
    }
    if config["train"].get("from_base"):
        inputs["base"] = f"results/pretrained/{BASE}/model.safetensors"
    if config["train"].get("masks") == "xseg":  # labels edited: XSeg, its masks, then this training rerun
        if not config["xseg"]["enabled"]:
            raise WorkflowError("swaplib: train.masks xseg trains on the XSeg masks; set xseg.enabled: true")
        inputs["src_masks"] = f"results/videos/{source}/masks"
        inputs["dst_masks"] = expand("results/videos/{video}/masks", video=destinations)
    return inputs
