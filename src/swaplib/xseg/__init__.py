"""Learned face segmentation (XSeg): a small U-Net that tells face from what covers it.

    settings.py   XSegSettings: config.yaml `xseg:`, key for key
    model.py      the network (aligned BGR crop 0..1 in, a 1-channel mask logit out)
    labels.py     what it learns from: the landmark hull, LabelMe polygons and PNG masks in labels/{video}/
    occlude.py    synthetic occluders (shapes, textures, patches of other crops, hand-like blobs)
    train.py      the crash-safe, resumable training (the swap models' state folder) and its outputs
    apply.py      the model file; masks for a video's kept faces, one PNG per face id

Training and applying go through the workflow's xseg_train and xseg_masks rules (docs/masks.md).
"""
