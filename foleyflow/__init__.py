"""foleyflow: soundtracks for silent archival films.

Importing this package sets the offline defaults before any of Prefect,
Hugging Face or pyannote.audio is imported: archives run foleyflow on private
material, so nothing may phone home. Each default can still be overridden by
setting the variable in the environment beforehand.
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

OFFLINE_DEFAULTS: dict[str, str] = {
    # Prefect: no analytics from the (ephemeral) server, no client telemetry.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # Hugging Face: never reach the hub; a mistyped local path fails loudly.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # pyannote.audio sends usage metrics unless told not to.
    "PYANNOTE_METRICS_ENABLED": "false",
    # Not about the network: Prefect's temporary local server gets 20 s to start by default,
    # too little on a busy 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Not about the network either: OpenMP threads (torch) that spin while waiting stall badly when the
    # cores are shared (the Prefect server, cleaning threads, another job): measured here, generation
    # ran at a real-time factor of 0.27 with spinning threads and 6.8 with passive ones on 2 shared cores.
    "OMP_WAIT_POLICY": "PASSIVE",
}


def apply_offline_defaults() -> None:
    """Set every offline default that the environment does not already set."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)


apply_offline_defaults()

from foleyflow._malloc import tune_malloc  # noqa: E402

tune_malloc()
