"""AMP's own recipe (DFL's AMP): DSSIM at both window sizes at every resolution, and a weak loss on
the destination's background (0.1 x MSE and 1e-6 x total variation outside the blurred mask);
other models' losses are what they were, operation for operation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from swaplib.train.losses import pair_losses, ssim_kernels, total_variation

R = 32


def _step():
    gen = torch.Generator().manual_seed(3)
    rand = lambda c: torch.rand(2, c, R, R, generator=gen)
    outputs = (rand(3), rand(1), rand(3), rand(1))
    batch = {"src_target": rand(3), "dst_target": rand(3), "src_mask": rand(1), "dst_mask": rand(1),
             "src_loss_mask": rand(1), "dst_loss_mask": rand(1)}
    return outputs, batch


def test_amp_takes_both_dssim_windows_at_every_resolution():
    assert [w for w, _ in ssim_kernels(128, "cpu")] == [10.0]  # SAEHD below 256 px: one
    amp = ssim_kernels(128, "cpu", both=True)
    assert [w for w, _ in amp] == [5.0, 5.0] and [k.numel() for _, k in amp] == [11, 5]  # 128/11.6, 128/23.2
    at_256 = ssim_kernels(256, "cpu"), ssim_kernels(256, "cpu", both=True)  # from 256 px the two agree
    assert all(wa == wb and torch.equal(ka, kb) for (wa, ka), (wb, kb) in zip(*at_256))


def test_amps_destination_background_term_is_its_own_and_only_its_own():
    outputs, batch = _step()
    kernels = ssim_kernels(R, "cpu")
    for masked in (True, False):
        plain = pair_losses(outputs, batch, kernels, masked=masked, eyes_mouth=False)
        amp = pair_losses(outputs, batch, kernels, masked=masked, eyes_mouth=False, amp_background=True)
        outside = 1 - batch["dst_loss_mask"]
        term = (0.1 * F.mse_loss(outputs[2] * outside, batch["dst_target"] * outside)
                + 1e-6 * total_variation(outputs[2] * outside))
        assert torch.equal(amp[0], plain[0])  # the source loss is not touched
        assert torch.allclose(amp[1], plain[1] + term) and term > 0
    no_masks = {k: v for k, v in batch.items() if "mask" not in k}  # face sets without masks: nothing to weigh
    assert torch.equal(pair_losses(outputs, no_masks, kernels, masked=False, eyes_mouth=False, amp_background=True)[1],
                       pair_losses(outputs, no_masks, kernels, masked=False, eyes_mouth=False)[1])
