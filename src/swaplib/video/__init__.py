"""Video in and out, one job per module (import the one you need; nothing is re-exported here, so
that a stage's code hash covers only the modules it uses):

- `probe`: a video's size, rotation, audio, frame count and rate, variable rate (PyAV)
- `frames`: a video or a photo folder into numbered frames, and video.json (the frames rule)
- `photos`: which files of a photo folder are its photos, written as frames
- `encode`: frames + the destination's audio into an mp4, and the side-by-side review (the video rules)
- `stills`: a photo folder destination's merged frames back into photos, each marked (the photos rule)
- `photo_metadata`: what a swapped photo's EXIF, XMP and PNG text say, written and read back
- `results`: where a pair's result is (its mp4, or its folder of swapped photos)
- `marks`: what says a video is synthetic: the visible label, container tags, the provenance sidecar
- `credentials`: the signed C2PA manifest embedded in the mp4 (or a photo), and reading it back validated
- `signing`: the key that signs it: the user's certificate, or swaplib's local key pair
- `ffmpeg`: the ffmpeg binary, and running a command built with ffmpeg-python
"""
