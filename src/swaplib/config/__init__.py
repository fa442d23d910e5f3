"""Every setting of config.yaml declared once, without torch: its default, what values it takes (a
JSON-schema fragment), what it means, and its role in the workflow (a rerun trigger or not, added
off at which value, shaping another setting, part of a shared base).

From a section's declaration come config.yaml's commented section and the schema's (written by
`python -m swaplib.config`, held to the files by tests/test_config_declared.py), the settings
object the library checks values with, and the tables the workflow's common.smk plans reruns with.
The workflow imports these modules without torch. Declared so far: train.
"""
