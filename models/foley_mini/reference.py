"""Retrieved references: real corpus latents that ship with the model, re-timed to a timing curve.

Generation can be conditioned on the latent of a real recording of the
prompt's category (its timbre), re-timed so its events fall where the timing
curve has onsets: the recording is cut into events at its own onsets and the
events are placed, in turn, at the curve's onsets; ambiences and sustained
sounds are looped instead. A generation that used a reference is
*attributed*: the pipeline returns the clip's id, package, file, author and
licence.

:class:`ReferenceBank` is a registered pipeline component: the latents (fp16)
and caption embeddings are its safetensors weights, the per-entry metadata
(attribution, onsets, length) its JSON config, so a fresh machine needs no
corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

ATTRIBUTION_KEYS = ("clip_id", "package", "source_file", "author", "licence")
GATE_LOW, GATE_HIGH = 0.1, 0.3  # target sustain at which an event reference is silent / fully kept


def retime_latent(latent: torch.Tensor, onsets: list[int] | np.ndarray, target_onsets: list[int] | np.ndarray,
                  length: int, silence: torch.Tensor, loop: bool = False, valid: int | None = None) -> torch.Tensor:
    """Re-time a reference latent to a target's onsets.

    Arguments:
        latent: ``(C, H, Lr)`` reference latent (normalised).
        onsets: the reference's own onset positions, in latent frames.
        target_onsets: where events should start, in latent frames.
        length: output length in latent frames.
        silence: ``(C, H)`` latent column of silence, used between events.
        loop: loop the reference instead (ambience, sustained sounds); also used when the reference has no
            onsets. An event reference (``loop=False``) with no target onset gives silence.
        valid: frames of ``latent`` that hold the recording (the rest is padding); default all.

    Returns:
        ``(C, H, length)``.
    """
    c, h, lr = latent.shape
    valid = lr if valid is None else max(1, min(int(valid), lr))
    src = latent[:, :, :valid]
    ons = sorted({int(o) for o in np.asarray(onsets).ravel() if 0 <= int(o) < valid})
    tgt = sorted({int(round(float(t))) for t in np.asarray(target_onsets, dtype=np.float64).ravel()
                  if 0 <= round(float(t)) < length})
    if not tgt and not loop:
        # the picture has no event: an event sound (a hammer, a knock) has nothing to answer, so no
        # reference events at all (looping it would put strikes on a still picture)
        return silence.to(latent.dtype).reshape(c, h, 1).repeat(1, 1, length).clone()
    if loop or not ons:
        reps = -(-length // valid)
        return src.repeat(1, 1, reps)[:, :, :length].clone()
    out = silence.to(latent.dtype).reshape(c, h, 1).repeat(1, 1, length)
    bounds = ons + [valid]
    events = [(bounds[k], bounds[k + 1]) for k in range(len(ons))]
    for j, start in enumerate(tgt):
        stop = tgt[j + 1] if j + 1 < len(tgt) else length
        a, b = events[j % len(events)]
        n = min(b - a, stop - start)
        out[:, :, start:start + n] = src[:, :, a:a + n]
    return out


@dataclass
class RetrievedReference:
    """A bank entry chosen for a prompt: its index, cosine similarity and attribution record."""

    index: int
    similarity: float
    attribution: dict


class ReferenceBank(ModelMixin, ConfigMixin):
    """Latents of selected real training windows, their caption embeddings and attribution metadata.

    Arguments:
        entries: one dict per latent: ``clip_id, package, source_file, author, licence, caption,
            category, is_ambience, valid`` (latent frames holding audio) and ``onsets`` (latent frames).
        latent_channels, latent_height, frames: latent shape of each entry.
        text_dim: caption embedding width.
        similarity_threshold: prompts whose best cosine similarity to any caption is below this get no
            reference (so unrelated prompts are not attributed to an unrelated clip).
        candidates: how many of the best entries of the chosen category a seed chooses from.
    """

    @register_to_config
    def __init__(self, entries: list[dict] | None = None, latent_channels: int = 8, latent_height: int = 16,
                 frames: int = 64, text_dim: int = 384, similarity_threshold: float = 0.35,
                 candidates: int = 4) -> None:
        super().__init__()
        n = len(entries or [])
        self.register_buffer("latents", torch.zeros(n, latent_channels, latent_height, frames, dtype=torch.float16))
        self.register_buffer("embeddings", torch.zeros(n, text_dim))
        self.register_buffer("silence", torch.zeros(latent_channels, latent_height))

    def __len__(self) -> int:
        return len(self.config.entries or [])

    @property
    def entries(self) -> list[dict]:
        """Metadata of every entry."""
        return list(self.config.entries or [])

    def attribution(self, index: int) -> dict:
        """The attribution record of an entry (``clip_id, package, source_file, author, licence, caption, category``)."""
        e = self.entries[index]
        return {k: e.get(k) for k in (*ATTRIBUTION_KEYS, "caption", "category")}

    def find(self, clip_id: str) -> int:
        """Index of the first entry of ``clip_id``.

        Raises:
            KeyError: no entry of that clip (the message lists a few that exist).
        """
        for i, e in enumerate(self.entries):
            if str(e["clip_id"]) == str(clip_id):
                return i
        some = ", ".join(str(e["clip_id"]) for e in self.entries[:5])
        raise KeyError(f"no reference clip {clip_id!r} in the bank; known clips include {some}")

    def retrieve(self, pooled: torch.Tensor, generator: torch.Generator | None = None,
                 avoid: torch.Tensor | None = None) -> RetrievedReference | None:
        """The entry for a prompt: the best-matching category, then one of its closest entries chosen by the seed.

        Arguments:
            pooled: ``(D,)`` L2-normalised prompt embedding.
            generator: chooses among the ``candidates`` closest entries of the category.
            avoid: ``(D,)`` embedding of the negative prompt: entries are ranked by their similarity to
                the prompt minus their similarity to it, so "hammer and dog / not dog" retrieves a hammer.

        Returns:
            The chosen entry, or ``None`` when the bank is empty or no caption is similar enough.
        """
        if len(self) == 0:
            return None
        emb = self.embeddings.float()
        sims = emb @ pooled.float().to(emb.device)
        score = sims if avoid is None else sims - emb @ avoid.float().to(emb.device)
        score = torch.where(sims >= self.config.similarity_threshold, score, torch.full_like(score, -torch.inf))
        best = int(torch.argmax(score))
        if not torch.isfinite(score[best]):
            return None
        category = self.entries[best]["category"]
        same = [i for i, e in enumerate(self.entries) if e["category"] == category and torch.isfinite(score[i])]
        same.sort(key=lambda i: -float(score[i]))
        pool = same[:max(1, self.config.candidates)]
        pick = pool[int(torch.randint(len(pool), (1,), generator=generator))] if len(pool) > 1 else pool[0]
        return RetrievedReference(index=pick, similarity=float(sims[pick]), attribution=self.attribution(pick))

    def retimed(self, index: int, target_onsets: list[int] | np.ndarray, length: int,
                sustain: np.ndarray | None = None) -> torch.Tensor:
        """Entry ``index`` re-timed to ``target_onsets`` (latent frames), ``(C, H, length)`` float32.

        ``sustain`` (one value per latent frame, in [0, 1]) gates an event reference: where the target
        has faded (below ``GATE_LOW``) the reference is silence, so a long recorded event (an anvil that
        rings with a second strike in it) cannot sound where the picture shows nothing. Ambiences are
        never gated.
        """
        e = self.entries[index]
        loop = bool(e.get("is_ambience"))
        out = retime_latent(self.latents[index].float(), e.get("onsets", []), target_onsets, length,
                            self.silence.float(), loop=loop, valid=e.get("valid"))
        if sustain is not None and not loop:
            s = np.asarray(sustain, np.float64)[:length]
            g = np.ones(length)
            g[:s.size] = np.clip((s - GATE_LOW) / (GATE_HIGH - GATE_LOW), 0.0, 1.0)
            gate = torch.from_numpy(g).to(out.dtype).view(1, 1, -1)
            silence = self.silence.float().view(*self.silence.shape, 1)
            out = silence + (out - silence) * gate
        return out
