"""The face-swap networks (DFL's DF, LIAE and AMP families) and the trained model's file.

    config.py   ModelConfig and DFL's architecture strings (df-ud, liae-udtc, amp, ...)
    blocks.py   encoder, inter, decoder: DFL's DeepFake building blocks with options u, d, t, c
    df.py       DFModel: shared encoder + inter, one decoder per identity
    liae.py     LIAEModel: shared encoder, inter_AB + inter_B, one shared decoder
    amp.py      AMPModel: shared encoder and decoder, inter_src + inter_dst mixed by a morph factor
    base.py     the interface all offer (forward, forward_pair, swap), device, precision, autocast
    build.py    build_model: the network for a ModelConfig
    swap.py     swap_faces: uint8 crops through a trained model
    discriminators.py  the GAN's U-Net patch discriminator and the true-face code discriminator (training only)
    io.py       model.safetensors: save_model and load_model, the one owner of the file format

The architecture values come from outside (a training preset, or a model file's header): this
package knows no presets. This file only re-exports the names callers use, each on first use.
"""

import importlib

# name -> the module that defines it. Re-exported on first use (PEP 562), so that the torch-free
# modules (config.py: ModelConfig and the archi strings) import without torch, as the workflow does.
_DEFINED_IN = {
    "AMPModel": "amp", "DFModel": "df", "LIAEModel": "liae", "SwapModel": "base", "PRECISIONS": "base",
    "amp_dtype": "base", "autocast": "base", "precision_name": "base", "resolve_device": "base",
    "FAMILY_CLASSES": "build", "build_model": "build", "count_parameters": "build",
    "ARCHI_OPTIONS": "config", "ARCHI_TYPES": "config", "ModelConfig": "config", "parse_archi": "config",
    "MODEL_FILE": "io", "MODEL_FORMAT": "io", "load_model": "io", "read_header": "io", "save_model": "io",
    "swap_faces": "swap",
}
__all__ = sorted(_DEFINED_IN)


def __getattr__(name: str):
    if name not in _DEFINED_IN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_DEFINED_IN[name]}"), name)
