# The face set's input functions: a video's curation sheet, and what its contact sheets draw.
# Beside faceset.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def curation_file(wildcards):
    """The optional curation sheet of a video: adding, editing or removing it reruns sort."""
    path = Path(config["curation"]["dir"]) / f"{wildcards.video}.tsv"
    return [str(path)] if path.exists() else []


def sheet_inputs(wildcards):
    """A video's face set and crops; with curation.show_masks, its XSeg masks to overlay."""
    inputs = {
        "faceset": f"results/videos/{wildcards.video}/faceset.parquet",
        "faces": f"results/videos/{wildcards.video}/faces",
    }
    if config["curation"].get("show_masks"):
        if not config["xseg"]["enabled"]:
            raise WorkflowError("swaplib: curation.show_masks overlays the XSeg masks; set xseg.enabled: true")
        inputs["masks"] = f"results/videos/{wildcards.video}/masks"
    return inputs
