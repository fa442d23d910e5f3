# Learned segmentation's input functions (xseg): the videos it learns, their labels, the review's inputs.
# Beside xseg.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def xseg_videos():
    """The videos whose faces the segmentation model learns: xseg.videos, or every video."""
    named = config["xseg"]["videos"]
    unknown = sorted(set(named) - set(VIDEOS))
    if unknown:
        raise WorkflowError(
            f"swaplib: config.yaml: xseg.videos names {', '.join(unknown)}, which the sheet does not "
            f"have; videos: {', '.join(sorted(VIDEOS))}"
        )
    return sorted(named) if named else sorted(VIDEOS)


def xseg_label_files(video):
    """A video's label files (labels/{video}/*.json|png, as swaplib.xseg.labels reads them): inputs,
    so adding, editing or removing one retrains the segmentation model and what uses it."""
    folder = Path(config["xseg"]["labels_dir"]) / video
    if not folder.is_dir():
        return []
    return sorted(
        str(path)
        for path in folder.iterdir()
        if path.suffix.lower() in (".json", ".png") and not path.name.startswith(".")
    )


def xseg_train_inputs(wildcards):
    videos = xseg_videos()
    return {
        "tables": expand("results/videos/{video}/faces.parquet", video=videos),
        "faces": expand("results/videos/{video}/faces", video=videos),
        "labels": [path for video in videos for path in xseg_label_files(video)],
    }


def label_review_inputs(wildcards):
    """A video's faces and masks, its label files (a labelled face is not suggested again) and its
    marks file (labels/{video}/to_label.tsv) if there is one."""
    inputs = {
        "table": f"results/videos/{wildcards.video}/faces.parquet",
        "faces": f"results/videos/{wildcards.video}/faces",
        "masks": f"results/videos/{wildcards.video}/masks",
        "labels": xseg_label_files(wildcards.video),
    }
    marks = Path(config["xseg"]["labels_dir"]) / wildcards.video / "to_label.tsv"
    if marks.is_file():
        inputs["marks"] = str(marks)
    return inputs


def xseg_sources(wildcards):
    """Each training video's table, crops and labels folder, for the job (not a rerun trigger: the
    files are its inputs)."""
    folder = Path(config["xseg"]["labels_dir"])
    return SimpleNamespace(
        videos=[
            {
                "name": video,
                "table": f"results/videos/{video}/faces.parquet",
                "faces": f"results/videos/{video}/faces",
                "labels": str(folder / video),
            }
            for video in xseg_videos()
        ]
    )
