"""swaplib: face swapping, stage by stage (frames, faces, sort, train, merge, video)."""

from importlib.metadata import PackageNotFoundError, version

# From the installed package's metadata, so that a release changes no stage's code hash.
try:
    __version__ = version("swaplib")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
