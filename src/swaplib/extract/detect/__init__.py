"""Face detection backends: each finds faces in a frame and gives 68 iBUG landmarks per face.

`backends.make_detector(name, landmarks=...)` builds one from the workflow's settings:

| detector   | boxes                                   | default landmarks |
|------------|-----------------------------------------|-------------------|
| `dlib-hog` | dlib HOG (fast, offline; alias `dlib`)  | dlib              |
| `dlib-cnn` | dlib MMOD CNN (offline, ~1 s per frame) | dlib              |
| `fan`      | S3FD (face-alignment, downloads weights)| fan (2DFAN4)      |

Any detector can be combined with either landmarker (`landmarks="dlib"` or `"fan"`). base holds
what every backend shares (the Detection record, the Detector that runs a box finder and a
landmarker under one search policy); dlib_backends and fan are the backends.
"""
