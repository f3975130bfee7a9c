"""Who is who: speaker embeddings grouped by agglomerative clustering (average linkage on cosine distance) cut at a
distance threshold; clusters too small to be a speaker are folded into their nearest neighbour, clusters whose
centroids are as alike as one person's are merged, and each window finally goes to its nearest centroid.
`min_speakers`/`max_speakers` bound the count. Pure NumPy/SciPy over (windows, dims) arrays. The constants were tuned
on 36 conversations of asr/diarization/evaluation.py (draws 7, 11 and 23 of the set, before its Kokoro voices were
added); `make bench-diarization` reports on draw 41, which tuning never saw."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dhg_core import speakers as speaker_bounds

DISTANCE_THRESHOLD = 0.30  # cosine distance at which the tree is cut
SMALL_CLUSTER = 0.08  # a cluster with less than this share of the windows is folded into its nearest
SAME_SPEAKER = 0.85  # centroids at least this similar (cosine) are one speaker
REFINE_ROUNDS = 3

Labels = NDArray[np.int64]
Vectors = NDArray[np.float32]


def normed(vectors: Vectors) -> Vectors:
    result: Vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    return result


def centroids(embeddings: Vectors, labels: Labels) -> Vectors:
    """One normed mean per label, in the order of np.unique(labels)."""
    return normed(np.stack([embeddings[labels == label].mean(axis=0) for label in np.unique(labels)]))


def renumbered(labels: Labels) -> Labels:
    """Labels 0..k-1 in order of first appearance (speaker A is the first to speak)."""
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], dtype=np.int64)


def cluster(
    embeddings: Vectors,
    *,
    min_speakers: int = 1,
    max_speakers: int = speaker_bounds.MAX_SPEAKERS,
    threshold: float = DISTANCE_THRESHOLD,
) -> Labels:
    """One label per embedding (row), numbered by first appearance."""
    from scipy.cluster.hierarchy import fcluster, linkage  # the diarization extra's: the ASR service starts without

    count = len(embeddings)
    if count < 2:
        return np.zeros(count, dtype=np.int64)
    max_speakers = max(1, min(max_speakers, count))
    min_speakers = max(1, min(min_speakers, max_speakers))
    tree = linkage(normed(embeddings).astype(np.float64), method="average", metric="cosine")
    if min_speakers == max_speakers:
        return renumbered(refine(embeddings, fcluster(tree, t=min_speakers, criterion="maxclust").astype(np.int64)))
    labels = fcluster(tree, t=threshold, criterion="distance").astype(np.int64)
    labels = _fold_small(embeddings, labels, keep=min_speakers)
    labels = _merge_alike(embeddings, labels, keep=min_speakers)
    found = len(np.unique(labels))
    if found > max_speakers:
        labels = fcluster(tree, t=max_speakers, criterion="maxclust").astype(np.int64)
    elif found < min_speakers:
        labels = fcluster(tree, t=min_speakers, criterion="maxclust").astype(np.int64)
    return renumbered(refine(embeddings, labels))


def _fold_small(embeddings: Vectors, labels: Labels, *, keep: int) -> Labels:
    labels = labels.copy()
    while True:
        names, sizes = np.unique(labels, return_counts=True)
        smallest = int(np.argmin(sizes))
        if len(names) <= keep or sizes[smallest] >= max(2, SMALL_CLUSTER * len(labels)):
            return labels
        means = centroids(embeddings, labels)
        similarity = means @ means[smallest]
        similarity[smallest] = -np.inf
        labels[labels == names[smallest]] = names[int(np.argmax(similarity))]


def _merge_alike(embeddings: Vectors, labels: Labels, *, keep: int) -> Labels:
    labels = labels.copy()
    while len(names := np.unique(labels)) > keep:
        means = centroids(embeddings, labels)
        similarity = means @ means.T
        np.fill_diagonal(similarity, -np.inf)
        first, second = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[first, second] < SAME_SPEAKER:
            return labels
        labels[labels == names[second]] = names[first]
        labels = refine(embeddings, labels)
    return labels


def refine(embeddings: Vectors, labels: Labels, rounds: int = REFINE_ROUNDS) -> Labels:
    """Each window to its nearest centroid, a few times, as long as no cluster empties."""
    for _ in range(rounds):
        names = np.unique(labels)
        if len(names) < 2:
            break
        nearest = names[np.argmax(normed(embeddings) @ centroids(embeddings, labels).T, axis=1)]
        if len(np.unique(nearest)) < len(names) or np.array_equal(nearest, labels):
            break
        labels = nearest
    return labels
