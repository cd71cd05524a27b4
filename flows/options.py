"""Typed flow parameters (validated by Prefect before a run starts)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from tasks.clean import STEPS, CleanConfig
from foleyflow.settings import get_settings
from tasks.generate import GenerateConfig
from tasks.shots import ShotConfig


class RunOptions(BaseModel):
    """How a collection run processes its films."""

    clean_steps: list[str] = Field(default_factory=lambda: list(STEPS),
                                   description=f"cleaning steps to run, any of {', '.join(STEPS)}")
    codec: Literal["ffv1", "h264"] = Field("ffv1", description="cleaned output: lossless FFV1/MKV or near-lossless H.264")
    crf: int = Field(10, ge=0, le=30, description="H.264 CRF when codec is h264")
    max_workers: int = Field(2, ge=1, le=64, description="shots cleaned at once")
    task_runner: Literal["threads", "processes", "dask"] = Field(
        "threads", description="where a film's shot tasks run: threads of the flow's process, a pool of local "
                               "processes, or a Dask cluster (see flows/runners.py)")
    dask_address: str | None = Field(
        None, description="scheduler of a running Dask cluster (tcp://host:8786) for task_runner dask; "
                          "None starts a local cluster of max_workers worker processes for each film")
    sound: bool = Field(True, description="generate, stitch and deliver a soundtrack (off: picture stages only)")
    generator: str = Field(default_factory=lambda: get_settings().generator,
                           description="builtin:foley-mini, or local:<directory> of a pipeline (FOLEYFLOW_GENERATOR)")
    candidates: int = Field(2, ge=1, le=16, description="candidates generated per shot; the checks pick one")
    steps: int | None = Field(None, ge=1, le=200, description="denoising steps (default: the generator's)")
    guidance: float | None = Field(None, ge=0, le=20, description="guidance scale (default: the generator's)")
    seed: int = Field(0, ge=0, description="base seed; every candidate's seed derives from it, film and shot")
    crossfade_s: float = Field(0.1, ge=0, le=2, description="equal-power crossfade across each cut, seconds")
    target_lufs: float = Field(-23.0, ge=-60, le=-5, description="loudness of the film's track (EBU R128)")
    picture: Literal["cleaned", "original"] = Field("cleaned", description="picture of the delivered film")
    existing_audio: Literal["keep", "replace"] = Field(
        "keep", description="an existing audio track of the film: kept as a second track, or left out")
    speech_model: str | None = Field(
        None, description="a local pyannote.audio segmentation checkpoint for the speech check (default: the "
                          "shipped models/speech-vad); never fetched from a hub")
    only_shots: list[int] | None = Field(
        None, description="catalog ids of the shots whose sound is redone (a re-run); every other shot keeps "
                          "the sound it has (None: any shot whose sound is missing or out of date)")

    @field_validator("dask_address")
    @classmethod
    def _address_needs_dask(cls, address: str | None, info: ValidationInfo) -> str | None:
        runner = info.data.get("task_runner")
        if address and runner != "dask":
            raise ValueError(f"a Dask scheduler address is only used with the dask task runner (got {runner!r}); "
                             "add --task-runner dask, or leave the address out")
        return address or None

    @field_validator("clean_steps")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        unknown = [s for s in steps if s not in STEPS]
        if unknown:
            raise ValueError(f"unknown cleaning step(s) {unknown}; valid: {', '.join(STEPS)}")
        return steps

    def clean_config(self) -> CleanConfig:
        return CleanConfig(steps=tuple(self.clean_steps), codec=self.codec, crf=self.crf)

    def generate_config(self) -> GenerateConfig:
        return GenerateConfig(generator=self.generator, candidates=self.candidates, steps=self.steps,
                              guidance=self.guidance, seed=self.seed, margin_s=self.crossfade_s / 2,
                              speech_model=self.speech_model)

    def shot_config(self) -> ShotConfig:
        return ShotConfig()


class ShotOverrideInput(BaseModel):
    description: str | None = None
    negative_prompt: str | None = None
    dialogue: str | None = None  # "SPEAKER: line | other line", spread over the shot (tasks.dialogue)
    voice: str | None = None  # a tasks.tts voice for those lines


class FilmInput(BaseModel):
    """One film of a collection: its file and the archivist's words for it."""

    path: str
    title: str
    description: str = ""
    negative_prompt: str = ""
    shot_overrides: dict[int, ShotOverrideInput] = Field(default_factory=dict)
