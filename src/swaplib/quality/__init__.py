"""Swap quality, measured on the merged frames against the destination frames.

measure.py (landmarks, embeddings and detail of each face), figures.py (the numbers and the
verdict), card.py (quality.html, the plot, the strip), stage.py (what the workflow's rules call).
"""
