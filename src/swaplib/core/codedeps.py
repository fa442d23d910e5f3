"""Which library files a stage runs: the module, its packages and every swaplib module it imports.

The workflow declares these files as inputs of the rule that runs the stage, so editing
a module reruns exactly the rules whose code changed (and nothing that never imports it).
The import graph is swaplib.core.codehash's.
"""

from __future__ import annotations

from swaplib.core.codehash import closure


def module_files(*modules: str) -> list[str]:
    """Sorted paths of `modules` and all swaplib modules they import, transitively."""
    return [str(path) for path in closure(*modules)]
