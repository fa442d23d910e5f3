"""`swaplib review`: the human steps of a run in a browser, over a workflow folder.

    guard.py      who may ask: the token, the Host header, paths that stay inside the folder
    folder.py     what the folder holds and what the app may write there: the face sets, the
                  curation sheets and label marks, the models' training, STOP requests, a dry run
    masks.py      the mask editor: the faces to outline, a face's crop and mask, its LabelMe outlines
    app.py        the Flask app: pages and a small JSON API over folder.py; serve()
    static/       the page (plain HTML, CSS and JS, no build step)

The app writes only the files the workflow already reads (curation/{video}.tsv, the label marks
and the faces' outlines, a training's STOP file), so everything it does is reproducible from files
and reruns exactly what it affects; the pictures it shows are the workflow's own files.
"""
