"""Scores of uint8 frames (..., H, W, 3): per-frame MSE and SSIM, and PSNR in dB from MSE.

PSNR is taken of MSEs averaged over frames (`pooled_psnr`, `psnr_curve`), so that unchanged frames (infinite
PSNR, capped at 100 dB) cannot dominate a mean of per-frame PSNRs.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from worldmodel.metrics import psnr_from_mse


def frame_mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame mean squared error of uint8 frames (..., H, W, 3) -> (...)."""
    return ((pred.astype(np.float32) - target.astype(np.float32)) ** 2).mean(axis=(-3, -2, -1))


def frame_ssim(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame SSIM of uint8 frames (..., H, W, 3) -> (...) (worldmodel.metrics, Gaussian window)."""
    from worldmodel.metrics import ssim

    return ssim(torch.as_tensor(pred), torch.as_tensor(target)).numpy()


def psnr(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of uint8 images from their MSE (capped at 100 dB for identical images)."""
    return psnr_from_mse(torch.as_tensor(mse), 255.0).numpy()


def pooled_psnr(mse: np.ndarray) -> float:
    """PSNR of the MSE pooled over every entry of `mse` (all windows and frames); NaN when empty."""
    return float(psnr(np.float64(mse.mean()))) if mse.size else math.nan


def psnr_curve(mse: np.ndarray) -> list[float]:
    """PSNR per step (S,) of per-window, per-step MSE (B, S), pooled over windows, rounded for JSON."""
    return psnr(mse.mean(0)).round(3).tolist()
