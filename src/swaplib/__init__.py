"""swaplib: face swapping, stage by stage (frames, faces, sort, train, merge, video)."""

__version__ = "0.1.0"
