"""Typed flow parameters (validated by Prefect before a run starts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from tasks.clean import STEPS, CleanConfig
from tasks.shots import ShotConfig


class RunOptions(BaseModel):
    """How a collection run processes its films."""

    clean_steps: list[str] = Field(default_factory=lambda: list(STEPS),
                                   description=f"cleaning steps to run, any of {', '.join(STEPS)}")
    codec: Literal["ffv1", "h264"] = Field("ffv1", description="cleaned output: lossless FFV1/MKV or near-lossless H.264")
    crf: int = Field(10, ge=0, le=30, description="H.264 CRF when codec is h264")
    max_workers: int = Field(2, ge=1, le=64, description="shots cleaned at once")

    @field_validator("clean_steps")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        unknown = [s for s in steps if s not in STEPS]
        if unknown:
            raise ValueError(f"unknown cleaning step(s) {unknown}; valid: {', '.join(STEPS)}")
        return steps

    def clean_config(self) -> CleanConfig:
        return CleanConfig(steps=tuple(self.clean_steps), codec=self.codec, crf=self.crf)

    def shot_config(self) -> ShotConfig:
        return ShotConfig()


class ShotOverrideInput(BaseModel):
    description: str | None = None
    negative_prompt: str | None = None


class FilmInput(BaseModel):
    """One film of a collection: its file and the archivist's words for it."""

    path: str
    title: str
    description: str = ""
    negative_prompt: str = ""
    shot_overrides: dict[int, ShotOverrideInput] = Field(default_factory=dict)
