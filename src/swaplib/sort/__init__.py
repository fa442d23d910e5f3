"""Sort: the face set of a video (which faces train, in which order, and why the others not).

settings (sort and curation settings), scores (with cpbd: DFL's sharpness), identity, orders
(with final, absdiff and binning: DFL's sorts and the pose spreading they share), select,
curation (the reviewable TSV), stage (build_faceset: faceset.parquet), contact_sheet (the contact
sheets, drawn from the written face set).
"""
