"""DFL's training loss: DSSIM at one or two window sizes + MSE on the face, inside the blurred face
mask with masked training, + 300·L1 on eyes and mouth, + MSE on the predicted mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian(sigma: float, size: int, device) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float32) - size // 2) ** 2) / (2 * sigma**2))
    return (g / g.sum()).to(device)


def ssim_kernels(resolution: int, device) -> list[tuple[float, torch.Tensor]]:
    """DFL: one DSSIM of window R/11.6 (weight 10) below 256 px, else R/11.6 and R/23.2 (5 each)."""
    size = lambda s: max(3, int(s) | 1)  # odd
    if resolution < 256:
        return [(10.0, _gaussian(1.5, size(resolution / 11.6), device))]
    return [(5.0, _gaussian(1.5, size(resolution / 11.6), device)),
            (5.0, _gaussian(1.5, size(resolution / 23.2), device))]


def dssim(a: torch.Tensor, b: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 with a gaussian window, averaged over the batch."""
    C, k = a.shape[1], kernel.numel()
    stack = torch.cat([a, b, a * a, b * b, a * b], 1)  # blur all five maps at once, separably
    stack = F.conv2d(stack, kernel.view(1, 1, k, 1).expand(5 * C, 1, k, 1), groups=5 * C)
    stack = F.conv2d(stack, kernel.view(1, 1, 1, k).expand(5 * C, 1, 1, k), groups=5 * C)
    mu_a, mu_b, aa, bb, ab = stack.split(C, 1)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ((1 - ssim) / 2).mean()


def face_loss(rgb, mask, target, kernels, *, target_mask=None, loss_mask=None, em_mask=None) -> torch.Tensor:
    """DFL's loss of one identity: DSSIM + 10·MSE on the face (weighted by `loss_mask`, the blurred
    face mask, for masked training), + 300·L1 on eyes and mouth (`em_mask`), + 10·MSE on the mask."""
    if loss_mask is not None:
        rgb, target = rgb * loss_mask, target * loss_mask
    loss = sum(w * dssim(rgb, target, k) for w, k in kernels) + 10 * F.mse_loss(rgb, target)
    if em_mask is not None:
        loss = loss + 300 * (target * em_mask - rgb * em_mask).abs().mean()
    if target_mask is not None:
        loss = loss + 10 * F.mse_loss(mask, target_mask)
    return loss


def pair_losses(outputs, batch: dict, kernels, *, masked: bool, eyes_mouth: bool) -> list[torch.Tensor]:
    """[src loss, dst loss] of one step: `outputs` are forward_pair's (src rgb, src mask, dst rgb,
    dst mask), `batch` the step's tensors (targets, and the masks the batch has)."""
    src_rgb, src_mask, dst_rgb, dst_mask = outputs
    return [face_loss(rgb.float(), mask.float(), batch[f"{side}_target"], kernels,
                      target_mask=batch.get(f"{side}_mask"),
                      loss_mask=batch.get(f"{side}_loss_mask") if masked else None,
                      em_mask=batch.get(f"{side}_em") if eyes_mouth else None)
            for side, rgb, mask in (("src", src_rgb, src_mask), ("dst", dst_rgb, dst_mask))]
