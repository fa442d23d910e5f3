# Faces' input functions: a video's reference photo.
# Beside faces.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def reference_photo(wildcards):
    """The video's reference photo as a list (none: empty): an input, so replacing it reruns
    extraction and a missing one stops the run naming the file."""
    photo = REFERENCES.get(wildcards.video)
    return [local(photo)] if photo else []
