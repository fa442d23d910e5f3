"""Every setting of config.yaml declared once, without torch: its default, what values it takes (a
JSON-schema fragment), what it means, and its role in the workflow (a rerun trigger or not, added
off at which value, shaping another setting, part of a shared base).

From a section's declaration come config.yaml's commented section and the schema's (written by
`python -m swaplib.config`, held to the files by tests/test_config_declared.py), the tables the
workflow's common.smk plans reruns with, and for train and merge the settings object the library
checks values with (the other stages keep their own; a test holds their defaults and choices to
the declarations). The workflow imports these modules without torch. Declared: every section of
config.yaml (files.DECLARED): frames, extract, sort and curation, xseg, train, pretrain, merge,
video (with its c2pa section inside) and quality.
"""
