"""Extraction: detection backends, 68 landmarks, alignment (DFL face types), identity, tracking and smoothing."""
