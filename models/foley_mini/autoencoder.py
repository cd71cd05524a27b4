"""A small convolutional autoencoder of the log-mel, so diffusion works on about 8x fewer cells.

The encoder folds 2x2 cells into channels twice (``pixel_unshuffle``) with a
residual block after each fold, so a ``(1, 64, T)`` log-mel becomes a latent of
``latent_channels x 16 x T/4``; the decoder mirrors it. Everything is a 2-D
convolution over (frequency, time), fully convolutional in time, so any length
that is a multiple of 4 frames can be encoded and decoded in one call.

The latent is normalised per channel to zero mean and unit variance with
statistics measured on the training set after the autoencoder is trained
(``latent_mean`` / ``latent_std`` in the config): the diffusion model only ever
sees normalised latents (:meth:`MelAutoencoder.encode` / :meth:`decode` apply
and undo it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from models.foley_mini._config import update_config
from models.foley_mini.audio import LOG_MIN


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock2d(nn.Module):
    """GroupNorm-SiLU-conv twice, with a skip; channels unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(channels), channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(channels), channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class MelAutoencoder(ModelMixin, ConfigMixin):
    """Log-mel <-> latent. ``encode`` takes raw log-mel, ``decode`` returns raw log-mel.

    Arguments:
        n_mels: mel bins of the input (a multiple of 4).
        latent_channels: channels of the latent.
        channels: width after the first and after the second 2x2 fold.
        mel_mean, mel_std: normalisation of the log-mel input (measured on the training set).
        latent_mean, latent_std: per-channel statistics of the raw latent (set after training).
        kl_weight: weight of the KL term used in training (recorded for the model card).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(self, n_mels: int = 64, latent_channels: int = 8, channels: tuple[int, int] = (32, 64),
                 mel_mean: float = -4.0, mel_std: float = 3.0, latent_mean: list[float] | None = None,
                 latent_std: list[float] | None = None, kl_weight: float = 1e-4) -> None:
        super().__init__()
        if n_mels % 4:
            raise ValueError(f"n_mels={n_mels} must be a multiple of 4 (two 2x2 folds)")
        c1, c2 = channels
        self.enc_in = nn.Conv2d(4, c1, 3, padding=1)
        self.enc_block1 = ResBlock2d(c1)
        self.enc_fold = nn.Conv2d(4 * c1, c2, 1)
        self.enc_block2 = ResBlock2d(c2)
        self.enc_norm = nn.GroupNorm(_groups(c2), c2)
        self.enc_out = nn.Conv2d(c2, 2 * latent_channels, 3, padding=1)

        self.dec_in = nn.Conv2d(latent_channels, c2, 3, padding=1)
        self.dec_block2 = ResBlock2d(c2)
        self.dec_unfold = nn.Conv2d(c2, 4 * c1, 1)
        self.dec_block1 = ResBlock2d(c1)
        self.dec_norm = nn.GroupNorm(_groups(c1), c1)
        self.dec_out = nn.Conv2d(c1, 4, 3, padding=1)
        self.dec_refine = nn.Conv2d(1, 1, 3, padding=1)  # smooths the 2x2 unfold seams
        nn.init.zeros_(self.dec_refine.weight)
        nn.init.zeros_(self.dec_refine.bias)
        mean = torch.tensor(latent_mean if latent_mean is not None else [0.0] * latent_channels)
        std = torch.tensor(latent_std if latent_std is not None else [1.0] * latent_channels)
        self.register_buffer("latent_mean_", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("latent_std_", std.view(1, -1, 1, 1), persistent=False)

    @property
    def time_factor(self) -> int:
        """Audio frames per latent frame."""
        return 4

    @property
    def latent_height(self) -> int:
        """Frequency rows of the latent."""
        return self.config.n_mels // 4

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Record the per-channel latent statistics (in the config too, so they are saved)."""
        update_config(self, latent_mean=[float(v) for v in mean], latent_std=[float(v) for v in std])
        self.latent_mean_ = mean.detach().float().view(1, -1, 1, 1).to(self.latent_mean_.device)
        self.latent_std_ = std.detach().float().view(1, -1, 1, 1).to(self.latent_std_.device)

    def _check_mel(self, mel: torch.Tensor) -> None:
        if mel.ndim != 3 or mel.shape[1] != self.config.n_mels or mel.shape[2] % 4:
            raise ValueError(f"log-mel of shape {tuple(mel.shape)}: expected (batch, {self.config.n_mels}, T) "
                             "with T a multiple of 4; pad the time axis with the log floor")

    def encode_raw(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of the *unnormalised* latent, each ``(B, C, n_mels/4, T/4)``."""
        self._check_mel(mel)
        x = ((mel - self.config.mel_mean) / self.config.mel_std).unsqueeze(1)
        h = self.enc_block1(self.enc_in(F.pixel_unshuffle(x, 2)))
        h = self.enc_block2(self.enc_fold(F.pixel_unshuffle(h, 2)))
        mean, logvar = self.enc_out(F.silu(self.enc_norm(h))).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 5.0)

    def _decode_net(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dec_block2(self.dec_in(z))
        h = self.dec_block1(F.pixel_shuffle(self.dec_unfold(h), 2))
        y = F.pixel_shuffle(self.dec_out(F.silu(self.dec_norm(h))), 2)
        y = y + self.dec_refine(y)
        return y.squeeze(1) * self.config.mel_std + self.config.mel_mean

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised latent -> raw log-mel ``(B, n_mels, 4 * T')``."""
        return self._decode_net(z).clamp_min(LOG_MIN)

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Raw log-mel ``(B, n_mels, T)`` -> normalised latent (posterior mean) ``(B, C, n_mels/4, T/4)``."""
        mean, _ = self.encode_raw(mel)
        return (mean - self.latent_mean_) / self.latent_std_

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Normalised latent -> raw log-mel."""
        return self.decode_raw(latent * self.latent_std_ + self.latent_mean_)

    def forward(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: reconstruction (raw log-mel, before the floor clamp) and the mean KL per latent cell."""
        mean, logvar = self.encode_raw(mel)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        y = self._decode_net(mean + torch.exp(0.5 * logvar) * noise)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        return y, kl
