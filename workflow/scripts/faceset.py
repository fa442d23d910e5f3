from swaplib.core.jobs import run_job
from swaplib.sort.sheet import write_faceset_sheets
from swaplib.sort.stage import build_faceset

settings = dict(snakemake.params.items())  # the sort settings, each a param of the rule
faces_per_page = settings.pop("faces_per_page")


def faceset():
    build_faceset(
        snakemake.input.table,
        snakemake.input.faces,
        snakemake.output.faceset,
        curation_path=snakemake.input.curation[0] if snakemake.input.curation else None,
        threads=snakemake.threads,
        **settings,
    )
    write_faceset_sheets(snakemake.output.faceset, snakemake.input.faces, snakemake.output.sheets,
                         faces_per_page=faces_per_page, threads=snakemake.threads)


run_job(snakemake, faceset)
