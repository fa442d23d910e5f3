"""config.yaml's `merge:` section, declared once: every merge setting in DeepFaceLab's names and units,
what values it takes, what it does, and whether a frame range of the overrides sheet may change it.
The library's MergeSettings (swaplib.merge.settings), config.yaml's section and the schema's are made
from this, and so will be the review app's merge controls."""

from __future__ import annotations

from swaplib.config.declare import Section, Setting
from swaplib.config.train import PRECISIONS
from swaplib.core.color import COLOR_TRANSFERS

MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
MASKS = ("full", "dst", "learned-prd", "learned-dst", "learned-prd*learned-dst", "learned-prd+learned-dst",
         "xseg-prd", "xseg-dst", "xseg-prd*xseg-dst", "learned-prd*learned-dst*xseg-prd*xseg-dst")
SHARPEN = ("none", "box", "gaussian")
SR_NETWORKS = ("x4plus", "animevideov3")  # Real-ESRGAN's networks (swaplib.merge.enhance)
# Keys of an older swaplib whose unit changed with the rename: a stop, never a silent new meaning.
RENAMED = {
    "erode": "erode_mask_modifier, -400..400 in DeepFaceLab's unit (px of the mask at 4x the model's "
             "resolution), no longer a share of the face size",
    "blur": "blur_mask_modifier, 0..400 in DeepFaceLab's unit (px of the mask at 4x the model's resolution), "
            "no longer a share of the face size",
    "denoise": "image_denoise_power, 0..500 in DeepFaceLab's unit (100 is about 5.5 median passes), no longer "
               "100 = one pass",
}


def _whole(low, high) -> dict:
    return {"type": "integer", "minimum": low, "maximum": high}


MERGE = Section("merge", comment='docs/merge.md says what each does', settings=(
    Setting("mode", "overlay", {"enum": list(MODES)}, "original, overlay, hist-match, seamless, seamless-hist-match, "
            "raw-rgb, raw-predict"),
    Setting("mask", "dst", {"enum": list(MASKS)},
            "full, dst (landmark hull), learned-prd, learned-dst, learned-prd*learned-dst, learned-prd+learned-dst,\n"
            "xseg-prd, xseg-dst, xseg-prd*xseg-dst, learned-prd*learned-dst*xseg-prd*xseg-dst (xseg-*: xseg.enabled)"),
    Setting("color_transfer", "rct", {"enum": list(COLOR_TRANSFERS)},
            "none, rct, lct, mkl, mkl-m, idt, idt-m, sot-m, mix-m (-m: statistics inside the mask)"),
    Setting("erode_mask_modifier", 25, _whole(-400, 400),
            "-400..400 (DFL's): shrink (+) or grow (-) the mask, px at 4x the model's resolution"),
    Setting("blur_mask_modifier", 70, _whole(0, 400),
            "0..400 (DFL's): soften the mask edge, Gaussian kernel px at 4x the model's resolution"),
    Setting("motion_blur", 0, _whole(0, 100), "0..100: blur the face along its movement between frames"),
    Setting("face_scale", 0, _whole(-50, 50), "-50..50: draw the face this % bigger (+) or smaller (-)"),
    Setting("sharpen", "none", {"enum": list(SHARPEN)}, "none, box or gaussian"),
    Setting("sharpen_amount", 0, _whole(-100, 100), "-100..100: DFL's blur/sharpen amount (negative blurs)"),
    Setting("hist_match_threshold", 255, _whole(0, 255),
            "0..255, hist-match modes: lower pulls the face's brightest tones down"),
    Setting("masked_hist_match", True, {"type": "boolean"},
            "hist-match: histograms inside the mask (false: over the whole face crop)"),
    Setting("image_denoise_power", 0, _whole(0, 500),
            "0..500 (DFL's): median-denoise the whole destination frame (100 = about 5.5 passes)"),
    Setting("bicubic_degrade", 0, _whole(0, 100), "0..100: soften the whole destination frame by down- and upscaling"),
    Setting("color_degrade", 0, _whole(0, 100), "0..100: blend the frame towards its 256-colour version"),
    Setting("overrides_dir", "merge", {"type": "string", "minLength": 1},
            "merge/{pair}.tsv: first_frame, last_frame, setting, value (per frame range)", role="location",
            per_frame=False),
    Setting("precision", "auto", {"enum": list(PRECISIONS)},
            "the model's: auto (bf16 on a GPU and on CPUs with AMX or AVX512_BF16), fp32, bf16 or fp16 (GPU)",
            per_frame=False),
    Setting("morph_factor", 1.0, {"type": "number", "minimum": 0, "maximum": 1},
            "amp models: 0..1, how much of the source's code the swap takes (1 = the full swap)", added_off=1.0,
            per_frame=False),
    Setting("super_resolution_power", 0, _whole(0, 100),
            "0..100 (DFL's): the face redrawn at 4x by Real-ESRGAN, blended by this share (the sr extra)",
            added_off=0),
    Setting("super_resolution_model", "x4plus", {"enum": list(SR_NETWORKS)},
            "x4plus (sharpest, ~1-2 s per 64 px face on a CPU) or animevideov3 (~40x faster, softer)",
            added_off="x4plus", per_frame=False),
), extra_schema={"patternProperties": {
    f"^{old}$": {"not": {}, "description": f"renamed: {old} is now {new}"} for old, new in RENAMED.items()}})
