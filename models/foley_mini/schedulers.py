"""The diffusion schedules: DDPM (cosine, v-prediction) for training, DPM-Solver++ for sampling."""

from __future__ import annotations

from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

NUM_TRAIN_TIMESTEPS = 1000


def training_scheduler() -> DDPMScheduler:
    """The training noise schedule: 1000 steps, cosine (``squaredcos_cap_v2``), v-prediction."""
    return DDPMScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2",
                         prediction_type="v_prediction", clip_sample=False)


def inference_scheduler() -> DPMSolverMultistepScheduler:
    """DPM-Solver++ (2nd order) on the training schedule; swap with ``X.from_config(pipe.scheduler.config)``."""
    return DPMSolverMultistepScheduler.from_config(training_scheduler().config, algorithm_type="dpmsolver++",
                                                   solver_order=2, timestep_spacing="trailing")
