#!/usr/bin/env bash
# Set up (or reuse) everything foleyflow needs on this machine; `make` and the
# Docker image both run this, so they install the same way.
#
#  1. Debian packages the project needs (FFmpeg's shared libraries for torchcodec,
#     ffmpeg itself for the benchmarks), installed only when missing.
#  2. A virtual environment built from requirements.lock. Environments are kept
#     in a cache keyed by the lock's hash (FOLEYFLOW_VENV_CACHE, default
#     ~/.cache/foleyflow/venvs), and the repository's .venv is a link to the one
#     that matches: a second run, or a fresh clone with the same lock, installs
#     nothing. Set FOLEYFLOW_VENV_CACHE=none to build .venv inside the repository.
#  3. foleyflow itself, installed editable from this checkout (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
PYTHON="${PYTHON:-python3}"
DEBIAN_PACKAGES=(ffmpeg)

log() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    log "missing system packages: ${missing[*]} (no apt-get here; install them with your package manager)"; exit 1
  fi
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. the environment -------------------------------------------------------
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$pyver" != "3.11" ]; then
  log "foleyflow needs Python 3.11 (found $pyver at $PYTHON); set PYTHON=/path/to/python3.11"; exit 1
fi
key="$(cat requirements.lock infra/bootstrap.sh | sha256sum | cut -c1-16)-py$pyver"
cache="${FOLEYFLOW_VENV_CACHE:-$HOME/.cache/foleyflow/venvs}"
if [ "$cache" = "none" ]; then venv="$REPO/.venv"; else venv="$cache/$key"; fi

if [ ! -f "$venv/.foleyflow-env-complete" ] || [ "$(cat "$venv/.foleyflow-env-complete")" != "$key" ]; then
  log "building the environment $venv from requirements.lock (first run: several minutes, ~8 GB)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$(grep -E '^pip==' requirements.lock)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock
  "$venv/bin/python" -m pip check
  echo "$key" > "$venv/.foleyflow-env-complete"
else
  log "reusing $venv (requirements.lock unchanged)"
fi
if [ "$venv" != "$REPO/.venv" ]; then
  if [ -e .venv ] && [ ! -L .venv ]; then
    log ".venv is a directory, not the cached environment; moving it aside to .venv.old"; rm -rf .venv.old; mv .venv .venv.old
  fi
  ln -sfn "$venv" .venv
fi

# --- 3. foleyflow from this checkout -----------------------------------------
if [ "$(cat "$venv/.foleyflow-src" 2>/dev/null)" != "$REPO" ] || ! "$venv/bin/python" -c "import foleyflow" 2>/dev/null \
   || [ pyproject.toml -nt "$venv/.foleyflow-src" ]; then
  log "installing foleyflow (editable) from $REPO"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$REPO" > "$venv/.foleyflow-src"
fi
