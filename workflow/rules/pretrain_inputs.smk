# The shared base's input functions: its settings and face sets (its name: common.smk, every rule's).
# Beside pretrain.smk, which includes it: Snakemake's lint wants rules and functions in files of their own.


def base_settings():
    """The base's settings param: the train section's architecture and recipe (less what pretraining
    sets itself), its own budget, and the names of its sources (their faces are inputs)."""
    train = {key: value for key, value in tracked("train").items() if key not in NOT_THE_BASES}
    own = {key: value for key, value in config["pretrain"].items() if key != "sources"}
    return sorted_keys({**train, **own, "sources": sorted(PRETRAIN_VIDEOS)})


def pretrain_inputs(wildcards):
    return {
        "facesets": expand("results/videos/{video}/faceset.parquet", video=sorted(PRETRAIN_VIDEOS)),
        "faces": expand("results/videos/{video}/faces", video=sorted(PRETRAIN_VIDEOS)),
    }
