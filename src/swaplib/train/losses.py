"""DFL's training loss: DSSIM at one or two window sizes + MSE on the face, inside the blurred face
mask with masked training, + 300·L1 on eyes and mouth, + MSE on the predicted mask; and, when asked
for, DFL's face and background style losses on the swap of the destination faces (StyleLosses).
DFL's AMP computes its own: DSSIM at both window sizes at every resolution, and a weak loss on the
destination's background (amp_background_loss), so that its shared decoder keeps drawing what lies
around the destination face."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

AMP_BACKGROUND_MSE, AMP_BACKGROUND_TV = 0.1, 1e-6  # DFL's AMP, outside the blurred destination mask


def _gaussian(sigma: float, size: int, device) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float32) - size // 2) ** 2) / (2 * sigma**2))
    return (g / g.sum()).to(device)


def dssim_window(size: float, device) -> torch.Tensor:
    """DFL's DSSIM window: a gaussian of sigma 1.5, `size` px wide (made odd, at least 3)."""
    return _gaussian(1.5, max(3, int(size) | 1), device)


def ssim_kernels(resolution: int, device, both: bool = False) -> list[tuple[float, torch.Tensor]]:
    """DFL: one DSSIM of window R/11.6 (weight 10) below 256 px, else (or with `both`: DFL's AMP at
    every resolution) R/11.6 and R/23.2 (5 each)."""
    if resolution < 256 and not both:
        return [(10.0, dssim_window(resolution / 11.6, device))]
    return [(5.0, dssim_window(resolution / 11.6, device)), (5.0, dssim_window(resolution / 23.2, device))]


def _separable(x: torch.Tensor, kernel: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Each channel of x convolved with kernel ⊗ kernel (rows, then columns), `padding` zeros around."""
    C, k = x.shape[1], kernel.numel()
    x = F.conv2d(x, kernel.view(1, 1, k, 1).expand(C, 1, k, 1), padding=(padding, 0), groups=C)
    return F.conv2d(x, kernel.view(1, 1, 1, k).expand(C, 1, 1, k), padding=(0, padding), groups=C)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B,C,H,W) blurred by a gaussian of `sigma` px over a window 4·sigma wide (at least 3), zeros
    outside the image (DFL's blur of masks and of the style loss's images)."""
    size = max(3, int(4 * sigma)) | 1
    return _separable(x, _gaussian(sigma, size, x.device).to(x.dtype), size // 2)


def dssim(a: torch.Tensor, b: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 with a gaussian window, averaged over the batch."""
    C = a.shape[1]
    stack = _separable(torch.cat([a, b, a * a, b * b, a * b], 1), kernel)  # blur all five maps at once
    mu_a, mu_b, aa, bb, ab = stack.split(C, 1)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ((1 - ssim) / 2).mean()


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Squared differences of neighbouring pixels, summed per image, averaged over the batch."""
    dh, dw = x[:, :, 1:] - x[:, :, :-1], x[:, :, :, 1:] - x[:, :, :, :-1]
    return (dh.square().sum((1, 2, 3)) + dw.square().sum((1, 2, 3))).mean()


def amp_background_loss(rgb: torch.Tensor, target: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """DFL's AMP's weak destination background loss: MSE to the target and the total variation of
    the reconstruction, both outside the blurred face mask."""
    outside = 1 - loss_mask
    background = rgb * outside
    mse = F.mse_loss(background, target * outside)
    return AMP_BACKGROUND_MSE * mse + AMP_BACKGROUND_TV * total_variation(background)


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


def pair_losses(outputs, batch: dict, kernels, *, masked: bool, eyes_mouth: bool,
                amp_background: bool = False) -> list[torch.Tensor]:
    """[src loss, dst loss] of one step: `outputs` are forward_pair's (src rgb, src mask, dst rgb,
    dst mask), `batch` the step's tensors (targets, and the masks the batch has). amp_background:
    the destination loss adds amp_background_loss (where the batch has masks)."""
    src_rgb, src_mask, dst_rgb, dst_mask = outputs
    losses = [face_loss(rgb.float(), mask.float(), batch[f"{side}_target"], kernels,
                        target_mask=batch.get(f"{side}_mask"),
                        loss_mask=batch.get(f"{side}_loss_mask") if masked else None,
                        em_mask=batch.get(f"{side}_em") if eyes_mouth else None)
              for side, rgb, mask in (("src", src_rgb, src_mask), ("dst", dst_rgb, dst_mask))]
    if amp_background and "dst_loss_mask" in batch:
        losses[1] = losses[1] + amp_background_loss(dst_rgb.float(), batch["dst_target"], batch["dst_loss_mask"])
    return losses


def style_loss(a: torch.Tensor, b: torch.Tensor, blur_sigma: float = 0.0) -> torch.Tensor:
    """How far the colours of images `a` are from those of `b`: per channel, the squared differences of
    their means and of their standard deviations over the image (after a gaussian blur of `blur_sigma`
    px, when > 0), summed over the channels and divided by their number; averaged over the batch."""
    if blur_sigma > 0:
        a, b = gaussian_blur(a, blur_sigma), gaussian_blur(b, blur_sigma)
    mean_a, mean_b = a.mean((2, 3)), b.mean((2, 3))
    std_a, std_b = (torch.sqrt(x.var((2, 3), unbiased=False) + 1e-5) for x in (a, b))
    return ((mean_a - mean_b) ** 2 + (std_a - std_b) ** 2).sum(1).mean() / a.shape[1]


@dataclass(frozen=True)
class StyleLosses:
    """DFL's style losses, added to the source loss, on the swap: the destination faces drawn as the
    source identity (model(dst input, "src")), against the destination targets. The style mask is the
    destination face mask blurred by R/32 (0.5 on the face's edge). Inside it, face_style_power
    (DFL's 0..100) weighs 100·power·style_loss (blurred by R/16): the swap takes on the destination's
    colours and lighting. Outside it, bg_style_power (0..100) weighs power/10·(DSSIM + MSE): the swap
    learns the destination's background."""

    face_power: float
    bg_power: float
    resolution: int
    kernel: torch.Tensor  # the background's DSSIM window (R/11.6)

    @classmethod
    def make(cls, face_power: float, bg_power: float, resolution: int, device) -> StyleLosses | None:
        """The style losses of these powers; None when both are 0 (no swap pass is needed then)."""
        if not face_power and not bg_power:
            return None
        return cls(face_power, bg_power, resolution, dssim_window(resolution / 11.6, device))

    def __call__(self, swap: torch.Tensor, batch: dict) -> torch.Tensor:
        """The style loss of one step: `swap` (B,3,R,R), `batch` the step's tensors (dst_target, dst_mask)."""
        R, target = self.resolution, batch["dst_target"]
        inside = gaussian_blur(batch["dst_mask"], max(1, R // 32))
        loss = swap.new_zeros(())
        if self.face_power:
            loss = loss + 100 * self.face_power * style_loss(swap * inside, target * inside, R // 16)
        if self.bg_power:
            swap_bg, target_bg = swap * (1 - inside), target * (1 - inside)
            loss = loss + self.bg_power / 10 * (dssim(swap_bg, target_bg, self.kernel) + F.mse_loss(swap_bg, target_bg))
        return loss
