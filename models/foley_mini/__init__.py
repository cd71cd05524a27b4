"""foley-mini: a small latent diffusion model of foley audio, conditioned on video timing and text.

Components (each a diffusers ``ModelMixin``/``ConfigMixin`` saved with ``save_pretrained``):
:class:`MelAutoencoder` (log-mel <-> latent), :class:`FoleyDenoiser` (the U-Net),
:class:`MiniLMTextEncoder` (packaged sentence encoder), :class:`GriffinLimVocoder`,
:class:`ReferenceBank` (real latents for retrieval, with attribution), assembled in
:class:`FoleyMiniPipeline`.
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
