"""The training corpus: real recorded sounds from Debian packages, captioned, licensed and split.

Build it with ``foleyflow corpus build`` (Prefect flow ``build-corpus`` in
:mod:`flows.corpus`) or :func:`models.corpus.build.build_corpus`. Everything
lands under ``FOLEYFLOW_HOME/corpus``:

- ``debs/`` downloaded ``.deb`` files; ``pkgs/<package>/`` their unpacked trees;
- ``clips/<sha16>.flac``: one file per clip, 16 kHz mono 16-bit FLAC, silence
  trimmed, loudness-normalised to -23 LUFS (peak under -1 dBFS), at most 60 s;
- ``manifests/<package>.json``: per-package results (re-runs skip packages whose
  version, ``.deb`` and settings did not change);
- ``clips.parquet``, ``windows.parquet``, ``dropped.parquet``, ``SUMMARY.md``,
  ``summary.json``.

The training code reads the two Parquet files (not the catalog).

``clips.parquet``, one row per clip:

=================== ========================================================================
clip_id             first 16 hex digits of ``sha256``; also the FLAC's file name
path                absolute path of the FLAC
sha256              sha256 of the source file as shipped (the catalog key)
flac_sha256         sha256 of the FLAC
package             Debian package, e.g. ``0ad-data``
package_version     its Debian version
deb_sha256          sha256 of the downloaded ``.deb`` (null when the installed copy was used)
source_file         path in the package tree; inside archives ``<archive>!<member>``
author              copyright holders from the copyright file (or the opensfx catalogue)
licence             licence short name (DEP-5 ``License:`` synopsis), e.g. ``CC-BY-SA-3.0``
caption             clean caption; similar sounds share words ("horse gallop", "horse neigh")
description         short text from the file name / catalogue title
category            curated category slug (:data:`models.corpus.captions.CATEGORIES`)
duration_s          seconds after trimming
n_samples           samples in the FLAC
sample_rate         16000
source_sample_rate  sample rate of the source file
is_ambience         continuous bed or loop: keep it out of training mixtures
fingerprint         64-bit hex code of the coarse fingerprint (display only)
dup_group           near-duplicate group (smallest clip_id of its members)
split               ``train`` or ``eval``; a duplicate group never straddles the split
=================== ========================================================================

``windows.parquet``, one row per training window: ``clip_id``, ``window_index``,
``start_sample``, ``end_sample`` (exclusive; ``end_sample - start_sample`` is
always the window length, 65536 by default; for a clip shorter than a window
``end_sample`` lies past ``n_samples`` and the loader pads with silence),
``n_samples``, ``padded``, ``split``, ``caption``, ``category``,
``is_ambience``, ``dup_group``. Windows hop by half a window; the last window
of a clip ends flush with the clip.

``dropped.parquet``: ``package``, ``source_file``, ``reason`` for every file left out.

Every clip also has a ``corpus_clip`` row in the catalog (upserted by sha256).
"""
