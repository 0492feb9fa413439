"""Image quality metrics in plain torch: PSNR and SSIM, whole-image and masked (no downloaded weights).

Images are channel-last `(..., H, W, C)` like the project's frames; uint8 images use a data range of 255, float
images a data range of 1.0 unless `data_range` says otherwise. Every function returns one value per image, with
the leading dims `...` of the input. Masks are `(..., H, W)` bool; an image whose mask is empty scores NaN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def _prepare(pred: Tensor, target: Tensor, data_range: float | None) -> tuple[Tensor, Tensor, float]:
    """Check shapes and return float32 copies plus the data range."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.ndim < 3:
        raise ValueError(f"images must be (..., H, W, C), got shape {tuple(pred.shape)}")
    if data_range is None:
        data_range = 255.0 if target.dtype == torch.uint8 else 1.0
    return pred.float(), target.float(), float(data_range)


def _check_mask(mask: Tensor, image: Tensor) -> Tensor:
    """Validate a `(..., H, W)` mask against a `(..., H, W, C)` image and return it as bool."""
    if mask.shape != image.shape[:-1]:
        raise ValueError(f"mask must have shape {tuple(image.shape[:-1])} (image without channels), got {tuple(mask.shape)}")
    return mask.bool()


def psnr_from_mse(mse: Tensor, data_range: float) -> Tensor:
    """PSNR in dB from a mean squared error; a perfect match is capped at 100 dB instead of inf."""
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(data_range**2 * 1e-10))


def psnr(pred: Tensor, target: Tensor, data_range: float | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB per image: `(..., H, W, C)` x2 -> `(...)`."""
    pred, target, data_range = _prepare(pred, target, data_range)
    mse = (pred - target).pow(2).mean(dim=(-3, -2, -1))
    return psnr_from_mse(mse, data_range)


def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor, data_range: float | None = None) -> Tensor:
    """PSNR over the pixels where `mask` (..., H, W) is True; NaN for images with an empty mask."""
    pred, target, data_range = _prepare(pred, target, data_range)
    mask = _check_mask(mask, target)
    sq = (pred - target).pow(2).mean(dim=-1)  # (..., H, W) mean over channels
    count = mask.sum(dim=(-2, -1))
    mse = (sq * mask).sum(dim=(-2, -1)) / count.clamp_min(1)
    return torch.where(count > 0, psnr_from_mse(mse, data_range), torch.full_like(mse, math.nan))


def _gaussian_window(size: int, sigma: float, device: torch.device) -> Tensor:
    """Normalised 1-D Gaussian window of `size` taps."""
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    window = torch.exp(-(coords**2) / (2 * sigma**2))
    return window / window.sum()


def _blur(x: Tensor, window: Tensor) -> Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflect padding, so the output keeps H and W."""
    channels, pad = x.shape[1], window.numel() // 2
    kx = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    ky = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), kx, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), ky, groups=channels)


def ssim_map(
    pred: Tensor, target: Tensor, data_range: float | None = None, window: int = 11, sigma: float = 1.5
) -> Tensor:
    """Per-pixel SSIM `(..., H, W)` (mean over channels) with a Gaussian window (Wang et al. 2004 constants).

    Reflect padding keeps the map the size of the image, so it lines up with masks; images smaller than the
    window use a window shrunk to fit.
    """
    pred, target, data_range = _prepare(pred, target, data_range)
    lead, (height, width) = pred.shape[:-3], pred.shape[-3:-1]
    size = min(window, height if height % 2 else height - 1, width if width % 2 else width - 1)
    if size < 1:
        raise ValueError(f"images of size {height}x{width} are too small for SSIM")
    kernel = _gaussian_window(size, sigma, pred.device)
    x = rearrange(pred.reshape(-1, *pred.shape[-3:]), "n h w c -> n c h w")
    y = rearrange(target.reshape(-1, *target.shape[-3:]), "n h w c -> n c h w")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = _blur(x, kernel), _blur(y, kernel)
    var_x = _blur(x * x, kernel) - mu_x**2
    var_y = _blur(y * y, kernel) - mu_y**2
    cov = _blur(x * y, kernel) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    per_pixel = (num / den).mean(dim=1)  # (N, H, W)
    return per_pixel.reshape(*lead, height, width)


def ssim(pred: Tensor, target: Tensor, data_range: float | None = None, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity per image: `(..., H, W, C)` x2 -> `(...)`, 1.0 for identical images."""
    return ssim_map(pred, target, data_range, window, sigma).mean(dim=(-2, -1))


def masked_ssim(
    pred: Tensor,
    target: Tensor,
    mask: Tensor,
    data_range: float | None = None,
    window: int = 11,
    sigma: float = 1.5,
) -> Tensor:
    """SSIM averaged over the pixels where `mask` (..., H, W) is True; NaN for images with an empty mask.

    The local statistics still use the whole window (they may see unmasked neighbours); only the averaging is
    restricted to the mask.
    """
    mask = _check_mask(mask, target)
    per_pixel = ssim_map(pred, target, data_range, window, sigma)
    count = mask.sum(dim=(-2, -1))
    mean = (per_pixel * mask).sum(dim=(-2, -1)) / count.clamp_min(1)
    return torch.where(count > 0, mean, torch.full_like(mean, math.nan))
