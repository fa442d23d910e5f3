"""The shared base of every stage: errors, atomic writes and image files, digests, progress, jobs."""
