"""Merge: the swapped face put into every destination frame (DeepFaceLab's merger, as settings).

settings (the merge settings and the frame-range overrides sheet), masks (the blend mask),
frame (one frame: cut out, model, mask, colour, paste), post (sharpen, motion blur, denoise,
degrade), stage (the frame loop over a video, merge.json). Colour transfer is swaplib.core.color
(training uses it too).
"""
