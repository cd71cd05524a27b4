#!/usr/bin/env bash
# Set up (or reuse) everything foleyflow needs on this machine; `make` and the
# Docker image both run this, so they install the same way.
#
#  1. Debian packages the project needs (FFmpeg's shared libraries for torchcodec,
#     ffmpeg itself for the benchmarks, chromium for the UI test), installed only when missing.
#  2. A virtual environment built from requirements.lock. Environments are kept
#     in a cache keyed by the lock's hash (FOLEYFLOW_VENV_CACHE, default
#     ~/.cache/foleyflow/venvs); the repository's .venv is a hard-linked copy of
#     the one that matches: a second run, or a fresh clone with the same lock,
#     installs nothing. Set FOLEYFLOW_VENV_CACHE=none to build .venv in place.
#  3. foleyflow itself, installed editable from this checkout (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
PYTHON="${PYTHON:-python3}"
DEBIAN_PACKAGES=(ffmpeg chromium)  # chromium: the UI test opens the Prefect UI in it (headless)
# offline speech for dialogue (tasks/tts.py): festival + its HTS voice is the default (lowest WER in
# bench/bench_tts.py), espeak-ng the fallback; festvox-kallpc16k is the second voice compared there
DEBIAN_PACKAGES+=(espeak-ng festival festvox-kallpc16k festvox-us-slt-hts)  # dialogue (tasks/tts.py)
DEBIAN_PACKAGES+=(opencv-data)  # the frontal-face Haar cascade (tasks/speaking.py; OpenCV 5 wheels ship none)

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
# The cache holds one pristine environment per lock (no foleyflow in it). Each checkout gets its own
# .venv, a hard-linked copy of it (seconds, almost no disk), with foleyflow installed editable from
# that checkout: two clones never share, or repoint, each other's foleyflow.
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$pyver" != "3.11" ]; then
  log "foleyflow needs Python 3.11 (found $pyver at $PYTHON); set PYTHON=/path/to/python3.11"; exit 1
fi
key="$(cat requirements.lock infra/bootstrap.sh | sha256sum | cut -c1-16)-py$pyver"
cache="${FOLEYFLOW_VENV_CACHE:-$HOME/.cache/foleyflow/venvs}"
if [ "$cache" = "none" ]; then base="$REPO/.venv"; else base="$cache/$key"; fi

build_env() {  # build_env DIR: a fresh environment from requirements.lock
  log "building the environment $1 from requirements.lock (first run: several minutes, ~8 GB)"
  rm -rf "$1"
  mkdir -p "$(dirname "$1")"
  "$PYTHON" -m venv "$1"
  "$1/bin/python" -m pip install -q --disable-pip-version-check "$(grep -E '^pip==' requirements.lock)"
  "$1/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock
  "$1/bin/python" -m pip check
  echo "$key" > "$1/.foleyflow-env-complete"
}

if [ "$(cat "$base/.foleyflow-env-complete" 2>/dev/null)" != "$key" ]; then
  build_env "$base"
elif [ "$(cat .venv/.foleyflow-env-complete 2>/dev/null)" = "$key" ]; then
  log "reusing .venv (requirements.lock unchanged)"
fi
if [ "$base" != "$REPO/.venv" ] && [ "$(cat .venv/.foleyflow-env-complete 2>/dev/null)" != "$key" ]; then
  log "reusing $base (requirements.lock unchanged): linking it into .venv"
  rm -rf .venv .venv.partial
  cp -al "$base" .venv.partial 2>/dev/null || cp -a "$base" .venv.partial  # hard links where the disk allows
  # scripts name their interpreter by absolute path: point them at this copy (sed -i writes new files,
  # so the cached environment keeps its own)
  # (grep exits 2 on an entry it cannot read, e.g. a dangling link: not a reason to stop)
  { grep -lIs "$base" .venv.partial/bin/* || true; } | while read -r f; do sed -i "s#$base#$REPO/.venv#g" "$f"; done
  mv .venv.partial .venv
  rm -f .venv/.foleyflow-src
fi

# --- 3. foleyflow from this checkout -----------------------------------------
venv="$REPO/.venv"
if [ "$(cat "$venv/.foleyflow-src" 2>/dev/null)" != "$REPO" ] || ! "$venv/bin/python" -c "import foleyflow" 2>/dev/null \
   || [ pyproject.toml -nt "$venv/.foleyflow-src" ]; then
  log "installing foleyflow (editable) from $REPO"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$REPO" > "$venv/.foleyflow-src"
fi
