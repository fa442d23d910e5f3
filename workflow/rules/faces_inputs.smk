# Faces' input functions: a video's reference photo and its manual faces.
# Beside faces.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def reference_photo(wildcards):
    """The video's reference photo as a list (none: empty): an input, so replacing it reruns
    extraction and a missing one stops the run naming the file."""
    photo = REFERENCES.get(wildcards.video)
    return [local(photo)] if photo else []


def manual_faces(wildcards):
    """The video's manual faces file (swaplib review writes it) as a list (none: empty): an input, so
    placing a face reruns that video's extraction and what follows, and nothing else."""
    path = Path(config["extract"]["manual_faces"]) / f"{wildcards.video}.json"
    return [local(str(path))] if path.is_file() else []
