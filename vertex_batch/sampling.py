"""Sampling statistics of the input estimate: strata by request size, a stratified total with its 95% error,
and percentiles of past answers. Pure arithmetic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

#: Pending rows up to which every row is counted.
FULL_COUNT_ROWS = 200
#: Strata (and counted rows) of a sampled estimate.
SAMPLE_STRATA = 200
Z_95 = 1.96


def stratified_total(
    stratum_bytes: Sequence[int], sample_tokens: Sequence[int], sample_bytes: Sequence[int]
) -> tuple[float, float]:
    """Total tokens of strata (in size order) from one counted row each, and its 95% error.

    Each stratum's bytes are scaled by its sample's tokens per byte; the variance of a ratio within a
    stratum is estimated from successive differences between neighbouring strata.
    """
    ratios = [tokens / max(size, 1) for tokens, size in zip(sample_tokens, sample_bytes, strict=True)]
    total = sum(size * ratio for size, ratio in zip(stratum_bytes, ratios, strict=True))
    if len(ratios) < 2:
        return total, 0.0
    variance = sum((b - a) ** 2 for a, b in itertools.pairwise(ratios)) / (2 * (len(ratios) - 1))
    return total, Z_95 * math.sqrt(sum(size * size for size in stratum_bytes) * variance)


def percentile(values: Sequence[int], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (linear interpolation between order statistics)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
