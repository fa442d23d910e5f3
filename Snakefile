# swaplib: (source, destination) video pairs -> face-swapped videos.
# Stages: frames -> faces -> faceset (sort/curate) -> train -> merge -> video.
# See README.md for use and ../shared/DESIGN.md for the data contracts.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


# Results are named after sheet entries only (a pair name never matches a video's files).
wildcard_constraints:
    video="|".join(map(re.escape, VIDEOS)),
    pair="|".join(map(re.escape, PAIRS.index)),
    model="|".join(map(re.escape, MODELS)),
    base=re.escape(BASE),


include: "workflow/rules/frames.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/faceset.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/video.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/xseg.smk"


# Jobs of seconds run in the snakemake that plans the run, never as cluster jobs (profiles/slurm);
# a local run runs every job here anyway.
localrules:
    faces_to_check,
    label_review,
    model_page,
    pair_pages,
    quality_card,
    sheets,


rule all:
    default_target: True
    input:
        all_videos,


onsuccess:
    from swaplib.quality.summary import run_summary

    print(run_summary(Path.cwd(), list(PAIRS.index)))
