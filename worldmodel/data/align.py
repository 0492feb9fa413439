"""Action/frame alignment: the lag between logged camera actions and the image motion they cause.

Convention: step t is the action taken between frames t and t+1. A log that is `lag` ticks late records at tick
t + lag the action that moved frame t to t+1; aligning it pairs frame t with tick t + lag (positive lag drops the
first `lag` ticks, negative lag drops the first -lag frames).

The estimate compares, for every candidate lag in -10..10, the image motion of consecutive frames (phase
correlation of grey frames: horizontal shift dx, vertical shift dy, in pixels) with the logged camera: turning
right (positive yaw) moves the picture left and looking down (positive pitch) moves it up, so -dx should follow
yaw and -dy pitch. The lag with the highest correlation wins: Pearson's, pooled over the axes that move, each in
its own units (pixels per degree are about equal on both axes), so a barely used axis cannot outvote a busy one. A non-zero lag must beat lag 0 by LAG_MARGIN (0.05): smooth camera
motion (eased turns) correlates almost equally at neighbouring lags.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAG = 10
MAX_SIDE = 128  # frames are block-averaged down to at most this many pixels a side before phase correlation
MIN_PAIRS = 8  # a lag needs at least this many (image shift, camera) pairs to be scored
LAG_MARGIN = 0.05  # a non-zero lag must beat lag 0's correlation by this much to be reported
STATIC_PEAK_RATIO = 0.3  # a non-zero peak this strong relative to the zero-shift peak wins (see image_shifts)


@dataclass
class LagEstimate:
    """Best lag, its correlation, the correlation at lag 0, and the correlation of every lag tried."""

    lag: int
    correlation: float
    correlation_at_zero: float
    scores: dict[int, float]


def _grey(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) uint8 -> (T,h,w) float32 grey, block-averaged so that max(h, w) <= MAX_SIDE."""
    grey = frames.astype(np.float32).mean(axis=-1)
    factor = max(1, int(np.ceil(max(grey.shape[1:]) / MAX_SIDE)))
    if factor > 1:
        h, w = grey.shape[1] // factor * factor, grey.shape[2] // factor * factor
        grey = grey[:, :h, :w].reshape(len(grey), h // factor, factor, w // factor, factor).mean(axis=(2, 4))
    return grey


def _peak(corr: np.ndarray, axis_len: int, index: int, axis: int) -> float:
    """Sub-pixel peak position along one axis (parabola through the peak and its neighbours), signed."""
    if axis == 0:
        left, centre, right = corr[(index - 1) % axis_len, :].max(), corr[index, :].max(), \
            corr[(index + 1) % axis_len, :].max()
    else:
        left, centre, right = corr[:, (index - 1) % axis_len].max(), corr[:, index].max(), \
            corr[:, (index + 1) % axis_len].max()
    denom = left - 2 * centre + right
    offset = 0.5 * (left - right) / denom if abs(denom) > 1e-12 else 0.0
    signed = index if index <= axis_len // 2 else index - axis_len
    return float(signed + np.clip(offset, -0.5, 0.5))


def image_shifts(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) uint8 frames -> (T-1, 2) float32 [dy, dx]: content motion in pixels from frame t to t+1 (phase
    correlation with a Hann window; pixels of the block-averaged frame, at most MAX_SIDE a side)."""
    if len(frames) < 2:
        return np.zeros((0, 2), np.float32)
    grey = _grey(frames)
    h, w = grey.shape[1:]
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spectra = np.fft.rfft2((grey - grey.mean(axis=(1, 2), keepdims=True)) * window)
    shifts = np.zeros((len(frames) - 1, 2), np.float32)
    for t in range(len(frames) - 1):
        cross = spectra[t + 1] * np.conj(spectra[t])
        cross /= np.abs(cross) + 1e-9
        corr = np.fft.irfft2(cross, s=(h, w))
        y, x = np.unravel_index(int(np.argmax(corr)), corr.shape)
        if y == 0 and x == 0:  # static overlays (HUD, crosshair) peak at zero shift: prefer a strong moving peak
            masked = corr.copy()
            masked[np.ix_([-1, 0, 1], [-1, 0, 1])] = -np.inf
            y2, x2 = np.unravel_index(int(np.argmax(masked)), corr.shape)
            if masked[y2, x2] >= STATIC_PEAK_RATIO * corr[0, 0]:
                y, x = y2, x2
        shifts[t] = (_peak(corr, h, int(y), 0), _peak(corr, w, int(x), 1))
    return shifts


def estimate_lag(shifts: np.ndarray, camera: np.ndarray, max_lag: int = MAX_LAG) -> LagEstimate | None:
    """The lag (see module doc) that best pairs image shifts (S,2) [dy, dx] with logged camera (C,2) [pitch, yaw].

    None when no axis has both image motion and camera motion (nothing to align on).
    """
    motion = -np.asarray(shifts, np.float64)  # content moves against the turn
    cam = np.asarray(camera, np.float64)
    scores: dict[int, float] = {}
    for lag in range(-max_lag, max_lag + 1):
        first, last = max(0, -lag), min(len(motion), len(cam) - lag)  # pairs (motion[t], cam[t + lag])
        if last - first < MIN_PAIRS:
            continue
        x, y = motion[first:last], cam[first + lag:last + lag]
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        axes = [a for a in range(2) if x[:, a].std() > 1e-6 and y[:, a].std() > 1e-6]
        if axes:  # pooled over the axes in their own units, so the axis that moves most weighs most
            x, y = x[:, axes], y[:, axes]
            scores[lag] = float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))
    if not scores:
        return None
    best = max(scores, key=lambda k: (scores[k], -abs(k)))
    if 0 in scores and scores[best] - scores[0] < LAG_MARGIN:  # smooth camera motion gives broad, flat peaks
        best = 0
    return LagEstimate(lag=best, correlation=scores[best], correlation_at_zero=scores.get(0, float("nan")),
                       scores=scores)


def lag_slices(frames: int, steps: int, lag: int) -> tuple[slice, slice]:
    """(frame slice, step slice) that apply `lag`: step s.start + i moves frame f.start + i to f.start + i + 1.

    The result holds n + 1 frames and n steps with n = min(steps - max(lag, 0), frames - 1 - max(-lag, 0));
    ValueError when nothing is left.
    """
    step0, frame0 = max(lag, 0), max(-lag, 0)
    n = min(steps - step0, frames - 1 - frame0)
    if n < 1:
        raise ValueError(f"a lag of {lag} leaves no transition ({frames} frames, {steps} steps)")
    return slice(frame0, frame0 + n + 1), slice(step0, step0 + n)


def check_counts(frames: int, ticks: int, lag: int, where: str, what: str) -> None:
    """Frames must number ticks or ticks + 1, give or take the lag; ValueError naming both counts otherwise."""
    low, high = ticks - abs(lag), ticks + 1 + abs(lag)
    if not low <= frames <= high:
        extra = f" give or take the lag of {lag}" if lag else ""
        raise ValueError(f"{where}: {frames} frames but {what} has {ticks} ticks (expected equal, or one more "
                         f"frame{extra})")


def choose_lag(frames: np.ndarray, camera: np.ndarray, offset: int, align: str | None) -> tuple[int, dict]:
    """The lag to apply and its metadata: `offset` as given, or with align='auto' the estimate from frames
    (T,H,W,3) and logged camera (C,2); 'auto' falls back to `offset` when nothing moves (noted in the metadata)."""
    if align not in (None, "auto"):
        raise ValueError(f"align must be 'auto' or unset, got {align!r}")
    if align is None:
        return offset, {"lag": offset, "align": "offset"}
    estimate = estimate_lag(image_shifts(frames), camera)
    if estimate is None:
        return offset, {"lag": offset, "align": "auto", "align_correlation": None,
                        "align_note": f"no camera or image motion to align on; used --offset {offset}"}
    return estimate.lag, {"lag": estimate.lag, "align": "auto", "align_correlation": round(estimate.correlation, 4),
                          "align_correlation_at_zero": round(estimate.correlation_at_zero, 4)}
