"""Windowed denoising of latents longer than the training window (MultiDiffusion-style blending).

A shot longer than the model's window is one long latent. At every denoising
step the model predicts each overlapping window, and the predictions are
blended into one full-length prediction with crossfade weights, so the whole
latent is denoised jointly: the windows agree where they overlap and there
is no seam to hide afterwards. The weights rise and fall as raised cosines
over the overlap and sum to one everywhere.
"""

from __future__ import annotations

import math

import torch


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows of ``window`` frames covering ``length`` with at least ``overlap`` in common.

    Raises:
        ValueError: ``length < window`` or an overlap that leaves no hop.
    """
    if length < window:
        raise ValueError(f"length {length} is shorter than the window {window}; pad it first")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be in [0, {window})")
    if length == window:
        return [0]
    hop = window - overlap
    n = math.ceil((length - window) / hop) + 1
    return [round(i * (length - window) / (n - 1)) for i in range(n)]


def blend_weights(starts: list[int], window: int, length: int, overlap: int) -> torch.Tensor:
    """Per-window weights ``(n, window)`` that sum to one at every frame of ``length``."""
    ramp = max(1, overlap)
    w = torch.ones(len(starts), window, dtype=torch.float64)
    fade = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(ramp, dtype=torch.float64) + 0.5) / ramp)
    for i in range(len(starts)):
        if i > 0:
            w[i, :ramp] *= fade
        if i < len(starts) - 1:
            w[i, -ramp:] *= fade.flip(0)
    total = torch.zeros(length, dtype=torch.float64)
    for i, s in enumerate(starts):
        total[s:s + window] += w[i]
    for i, s in enumerate(starts):
        w[i] /= total[s:s + window]
    return w.float()


def split_windows(x: torch.Tensor, starts: list[int], window: int) -> torch.Tensor:
    """``(B, ..., L)`` -> ``(n * B, ..., window)``, window-major (all of window 0's batch first)."""
    return torch.cat([x[..., s:s + window] for s in starts], dim=0)


def merge_windows(parts: torch.Tensor, starts: list[int], weights: torch.Tensor, length: int) -> torch.Tensor:
    """Inverse of :func:`split_windows`: the weighted sum of window predictions, ``(B, ..., length)``."""
    n = len(starts)
    b = parts.shape[0] // n
    out = torch.zeros(parts.shape[1:-1] + (length,), dtype=parts.dtype, device=parts.device).unsqueeze(0)
    out = out.repeat(b, *([1] * (parts.ndim - 1)))
    for i, s in enumerate(starts):
        w = weights[i].to(parts.device, parts.dtype)
        out[..., s:s + weights.shape[1]] += parts[i * b:(i + 1) * b] * w
    return out
