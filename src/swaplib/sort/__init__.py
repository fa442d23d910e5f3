"""The face set of a video: every face scored, the training set selected and ordered, the
reason recorded for every face left out, and contact sheets to review it.

Modules: stage (build_faceset: faceset.parquet), scores, select (the rules), orders, identity,
curation (the reviewable TSV), sheet (the contact sheets, drawn from faceset.parquet).

faceset.parquet keeps all columns of faces.parquet, the scores (scores.SCORE_COLUMNS and the
colour histogram `hist`), and the decision: `selected`, `rank` (training order, -1 when left
out), `reason` ("" when selected), `curation` (the sheet's exclude/include for the face),
`curation_note`, `order_score` (the value that placed it in `sort.order`). Curation is a
reviewable TSV (see curation.py), never a deletion of files.
"""

from swaplib.sort.curation import Curation, append_curation, read_curation
from swaplib.sort.orders import ORDERS
from swaplib.sort.scores import SCORE_COLUMNS, score_faces
from swaplib.sort.select import REASONS, Rules, select_faces
from swaplib.sort.stage import build_faceset
from swaplib.tables.faceset import read_faceset, selected_faces

__all__ = [
    "ORDERS", "REASONS", "SCORE_COLUMNS", "Curation", "Rules", "append_curation", "build_faceset",
    "read_curation", "read_faceset", "score_faces", "select_faces", "selected_faces",
]
