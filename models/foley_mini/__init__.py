"""foley-mini: a small latent diffusion model of foley audio, conditioned on video timing and text.

Components (each a diffusers ``ModelMixin``/``ConfigMixin`` saved with ``save_pretrained``):
:class:`MelAutoencoder` (log-mel <-> latent), :class:`FoleyDenoiser` (the U-Net),
:class:`MiniLMTextEncoder` (packaged sentence encoder), :class:`GriffinLimVocoder`,
:class:`ReferenceBank` (real latents for retrieval, with attribution), assembled in
:class:`FoleyMiniPipeline`. Callers use it through :func:`models.registry.get_generator`.

Train, measure and ship::

    foleyflow train --corpus FOLEYFLOW_HOME/corpus --out RUN [--minutes 120] [--seed 0] [--resume]
    python -m models.foley_mini.evaluate RUN/pipeline      # sync F1, real-time factor, sizes
    python -m models.foley_mini.adherence RUN              # category classifier on real vs generated
    python -m models.foley_mini.ship RUN                   # -> models/foley-mini + MODEL_CARD.md
"""

from models.foley_mini.autoencoder import MelAutoencoder
from models.foley_mini.config import PRESETS, ModelConfig, build_pipeline
from models.foley_mini.denoiser import FoleyDenoiser
from models.foley_mini.pipeline import FoleyMiniPipeline, FoleyMiniPipelineOutput
from models.foley_mini.reference import ReferenceBank
from models.foley_mini.text_encoder import MiniLMTextEncoder, TextEmbeddings
from models.foley_mini.vocoder import GriffinLimVocoder

__all__ = [
    "FoleyDenoiser", "FoleyMiniPipeline", "FoleyMiniPipelineOutput", "GriffinLimVocoder", "MelAutoencoder",
    "MiniLMTextEncoder", "ModelConfig", "PRESETS", "ReferenceBank", "TextEmbeddings", "build_pipeline",
]
