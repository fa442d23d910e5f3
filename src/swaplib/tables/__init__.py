"""The tables that stages hand to each other: the face table (faces.parquet) and the face set."""
