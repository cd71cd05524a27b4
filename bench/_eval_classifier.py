"""The judge of prompt adherence: a small audio classifier trained on the real training split.

A clip is summarised by statistics of its log-mel over its *active* frames
(within ``ACTIVE_DB`` of its loudest frame, so the silence that pads short
clips, and the level of the clip, do not matter): per mel bin the mean, the
standard deviation and the mean absolute frame-to-frame change, plus the
fraction of active frames and the onset rate. A standardised logistic
regression over these features, its regularisation chosen by cross-validation
grouped by source clip (windows of one recording never sit on both sides of a
fold), decides which category a clip answers.

Its accuracy on held-out real clips is the ceiling of the adherence test;
generated clips are scored by the same classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from models.foley_mini.timing import detect_onsets, frame_db
from tasks.audio_grid import FRAME_RATE

ACTIVE_DB = 40.0  # frames this far below the loudest frame are ignored
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def clip_features(logmel: np.ndarray) -> np.ndarray:
    """Level- and padding-invariant features of one log-mel ``(n_mels, T)``.

    Arguments:
        logmel: natural-log mel magnitudes (:func:`models.foley_mini.audio.log_mel`).

    Returns:
        ``float64 (3 * n_mels + 2,)``: per-bin mean, std and mean absolute change over the active
        frames (the mean relative to the loudest active frame's mean, so gain cancels), the active
        fraction and the onset rate (per second).

    Raises:
        ValueError: not a 2-D spectrogram, or no frame at all.
    """
    x = np.asarray(logmel, np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"expected a (n_mels, frames) log-mel, got shape {x.shape}")
    db = frame_db(x)
    active = db >= db.max() - ACTIVE_DB
    a = x[:, active]
    level = a.mean(axis=0).max()
    mean = a.mean(axis=1) - level
    std = a.std(axis=1)
    change = np.abs(np.diff(a, axis=1)).mean(axis=1) if a.shape[1] > 1 else np.zeros(x.shape[0])
    onsets = detect_onsets(x).size / (x.shape[1] / FRAME_RATE)
    return np.concatenate([mean, std, change, [active.mean(), onsets]])


@dataclass
class CategoryClassifier:
    """A fitted classifier over a fixed, sorted list of categories."""

    model: Pipeline
    categories: list[str]
    chosen_c: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """``(n, len(categories))`` class probabilities, columns in :attr:`categories` order."""
        return self.model.predict_proba(np.atleast_2d(features))

    def predict(self, features: np.ndarray) -> list[str]:
        """The most probable category of each row."""
        return [self.categories[i] for i in self.probabilities(features).argmax(axis=1)]

    def accuracy(self, features: np.ndarray, labels: list[str]) -> float:
        """Fraction of rows whose predicted category is the label (0.0 for no rows)."""
        if len(labels) == 0:
            return 0.0
        return float(np.mean([p == t for p, t in zip(self.predict(features), labels)]))


def train_classifier(features: np.ndarray, labels: list[str], groups: list[str], seed: int = 0,
                     folds: int = 4) -> CategoryClassifier:
    """Fit the standardised logistic regression, choosing its ``C`` by grouped cross-validation.

    Arguments:
        features: ``(n, d)`` rows of :func:`clip_features`.
        labels: the category of each row.
        groups: the source clip (or duplicate group) of each row; folds never split a group.
        seed: the solver's random state.
        folds: cross-validation folds (fewer when there are fewer groups).

    Returns:
        A :class:`CategoryClassifier` refitted on all rows with the best ``C``.

    Raises:
        ValueError: fewer than two categories, or rows, labels and groups of different lengths.
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(labels)
    g = np.asarray(groups)
    if not (len(X) == len(y) == len(g)):
        raise ValueError(f"{len(X)} feature rows, {len(y)} labels and {len(g)} groups: give one of each per clip")
    categories = sorted(set(y.tolist()))
    if len(categories) < 2:
        raise ValueError(f"need at least two categories to train a classifier, got {categories}")
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, class_weight="balanced",
                                                              random_state=seed))
    k = min(folds, len(set(g.tolist())))
    if k >= 2:
        search = GridSearchCV(base, {"logisticregression__C": list(C_GRID)}, cv=GroupKFold(n_splits=k),
                              scoring="balanced_accuracy")
        search.fit(X, y, groups=g)
        best_c = float(search.best_params_["logisticregression__C"])
    else:
        best_c = 0.1
    model = base.set_params(logisticregression__C=best_c).fit(X, y)
    return CategoryClassifier(model=model, categories=[str(c) for c in model.classes_], chosen_c=best_c)
