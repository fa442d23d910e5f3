"""Sort: the face set of a video (which faces train, in which order, and why the others not).

settings (sort and curation settings), scores, identity, orders, select, curation (the
reviewable TSV), stage (build_faceset: faceset.parquet), sheet (the contact sheets, drawn from
the written face set).
"""
