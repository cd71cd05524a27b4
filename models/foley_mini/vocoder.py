"""The vocoder: log-mel -> waveform by Griffin-Lim (torchaudio), a module with no learned weights.

The log-mel is the one of :mod:`models.foley_mini.audio` (natural log of the
mel magnitude): ``exp`` gives the mel magnitude, ``InverseMelScale`` (least
squares, non-negative) the linear magnitude and ``GriffinLim`` a phase.
Phase starts from zero (``rand_init=False``), so the output depends only on
the spectrogram: generation stays deterministic for a given seed.
"""

from __future__ import annotations

import torch
import torchaudio
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from models.foley_mini.audio import MelSpec


class GriffinLimVocoder(ModelMixin, ConfigMixin):
    """Griffin-Lim from a log-mel magnitude spectrogram.

    Arguments:
        sample_rate, n_fft, hop_length, n_mels, f_min, f_max: the spectrogram (see :class:`MelSpec`).
        n_iter: Griffin-Lim iterations.
        momentum: the fast Griffin-Lim momentum (0 is the classic algorithm).
    """

    @register_to_config
    def __init__(self, sample_rate: int = 16000, n_fft: int = 1024, hop_length: int = 256, n_mels: int = 64,
                 f_min: float = 0.0, f_max: float = 8000.0, n_iter: int = 32, momentum: float = 0.99) -> None:
        super().__init__()
        self.inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sample_rate, f_min=f_min, f_max=f_max)
        self.griffin_lim = torchaudio.transforms.GriffinLim(
            n_fft=n_fft, hop_length=hop_length, power=1.0, n_iter=n_iter, momentum=momentum, rand_init=False)

    @property
    def spec(self) -> MelSpec:
        """The spectrogram this vocoder inverts."""
        c = self.config
        return MelSpec(sample_rate=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length, n_mels=c.n_mels,
                       f_min=c.f_min, f_max=c.f_max)

    @torch.no_grad()
    def forward(self, log_mel: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """Waveforms ``(B, samples)`` from log-mels ``(B, n_mels, T)``, in [-1, 1] (scaled down, never clipped).

        Arguments:
            log_mel: natural-log mel magnitudes.
            num_samples: output length (default ``(T - 1) * hop``).
        """
        if log_mel.ndim != 3 or log_mel.shape[1] != self.config.n_mels:
            raise ValueError(f"log-mel of shape {tuple(log_mel.shape)}: expected (batch, {self.config.n_mels}, T)")
        magnitude = self.inverse_mel(torch.exp(log_mel.float()))
        length = num_samples if num_samples is not None else (log_mel.shape[-1] - 1) * self.config.hop_length
        c, gl = self.config, self.griffin_lim
        audio = torchaudio.functional.griffinlim(magnitude, gl.window, c.n_fft, c.hop_length, c.n_fft, 1.0,
                                                 c.n_iter, c.momentum, length, False)
        # the level of generated audio is relative (the film's track is loudness-normalised later): a
        # waveform that would clip is scaled down to a 0.99 peak instead of being clipped
        peak = audio.abs().amax(dim=-1, keepdim=True)
        return (audio / torch.clamp(peak / 0.99, min=1.0)).clamp(-1.0, 1.0)
