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
package knows no presets. This file only re-exports the names callers use.
"""

from swaplib.model.amp import AMPModel
from swaplib.model.base import PRECISIONS, SwapModel, amp_dtype, autocast, precision_name, resolve_device
from swaplib.model.build import FAMILIES, build_model, count_parameters
from swaplib.model.config import ARCHI_OPTIONS, ARCHI_TYPES, ModelConfig, parse_archi
from swaplib.model.df import DFModel
from swaplib.model.io import MODEL_FILE, MODEL_FORMAT, load_model, read_header, save_model
from swaplib.model.liae import LIAEModel
from swaplib.model.swap import swap_faces

__all__ = [
    "ARCHI_OPTIONS", "ARCHI_TYPES", "FAMILIES", "MODEL_FILE", "MODEL_FORMAT", "PRECISIONS", "AMPModel", "DFModel",
    "LIAEModel", "ModelConfig", "SwapModel", "amp_dtype", "autocast", "build_model", "count_parameters",
    "load_model", "parse_archi", "precision_name", "read_header", "resolve_device", "save_model", "swap_faces",
]
