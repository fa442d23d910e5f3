"""The pages of `snakemake --report` beside the quality card (pages.py): a pair's swapped video in a
player, its per-face quality table, and a model's resolved settings."""
