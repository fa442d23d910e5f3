"""The one error type a user sees: it names the file and says what is wrong."""


class SwaplibError(Exception):
    """Bad input or a failed stage, worded for the person running the workflow.

    Raise it with the path of the offending file in the message, e.g.
    ``SwaplibError(f"{path}: not a video (no video stream)")``.
    """
