# Frames' input functions: a video's file or photos, and its frames settings.
# Beside frames.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def video_file(wildcards):
    """The video file, or every photo of a photo folder (so adding or changing a photo reruns frames)."""
    path = VIDEOS[wildcards.video]
    return [local(photo) for photo in photo_files(path)] if path.is_dir() else local(path)


def video_source(wildcards):
    """The video file or photo folder that the frames job reads."""
    return local(VIDEOS[wildcards.video])


def frames_settings(wildcards):
    """The frames section for one video, with what cannot change its frames taken out: jpg_quality
    where the frames are png, and the time settings (fps, start, end: None) for a photo folder."""
    settings = tracked("frames")
    if settings["format"] != "jpg":
        settings["jpg_quality"] = 100
    if VIDEOS[wildcards.video].is_dir():
        settings.update(fps=None, start=None, end=None)
    return settings
