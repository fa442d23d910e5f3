# Merge's input functions: a pair's frames, faces, model, overrides sheet and masks; its settings.
# Beside merge.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def merge_overrides(wildcards):
    """The optional frame-range overrides of a pair's merge: adding, editing or removing it reruns merge."""
    path = Path(config["merge"]["overrides_dir"]) / f"{wildcards.pair}.tsv"
    return [str(path)] if path.exists() else []


def merge_masks(wildcards):
    """The mask kinds a pair's merge uses: merge.mask and the mask rows of its overrides sheet (whose
    cells the merge job checks in full)."""
    kinds = {config["merge"]["mask"]}
    for path in merge_overrides(wildcards):
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            cells = [cell.strip() for cell in line.split("\t")]
            if len(cells) == 4 and cells[2] == "mask":
                kinds.add(cells[3])
    return kinds


def merge_inputs(wildcards):
    """A pair's destination frames and faces and its model; the segmentation model too where a mask
    kind uses it (so that a labels file edited reruns the merge through it)."""
    pair = PAIRS.loc[wildcards.pair]
    video = pair["destination_video"]
    inputs = {
        "frames": f"results/videos/{video}/frames",
        "info": f"results/videos/{video}/video.json",
        "faces": f"results/videos/{video}/faces.parquet",
        "model": f"results/models/{pair['model']}/model.safetensors",
    }
    xseg = sorted(kind for kind in merge_masks(wildcards) if "xseg" in kind)
    if xseg and not config["xseg"]["enabled"]:
        raise WorkflowError(
            f"swaplib: merge mask {xseg[0]!r} (pair {wildcards.pair}) uses the XSeg masks; set xseg.enabled: "
            f"true (docs/masks.md) or choose another mask"
        )
    if xseg:
        inputs["xseg"] = f"results/xseg/{config['xseg']['name']}/model.safetensors"
    return inputs


def merge_settings(wildcards):
    """The merge section for a pair; a photo folder destination's without motion blur, which would
    take the step from one photo's face to the next one's for a movement."""
    settings = tracked("merge")
    if wildcards.pair in PHOTO_PAIRS:
        settings["motion_blur"] = 0
    return settings
