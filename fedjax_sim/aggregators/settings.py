"""The typed `aggregator` settings: the rule's name and every rule's
options, each with its one default."""

from __future__ import annotations

from typing import NamedTuple


class Settings(NamedTuple):
  """`config.aggregator`.

  Attributes:
    name: the rule (`mean`, `median`, `trimmed_mean`, `krum`, `dp`, `clip`,
      `dp_noise`), or several joined by '+' (a chain).
    clip: the L2 bound of `clip`, `dp_noise` and `dp` (its initial value
      under adaptive clipping).
    trim_fraction: `trimmed_mean`'s beta, in [0, 0.5).
    num_byzantine: `krum`'s f.
    num_selected: `krum`'s m (1: Krum; more: Multi-Krum).
    noise_multiplier: z of `dp` and `dp_noise`.
    adaptive: `dp` adapts its clip to `target_quantile` of the update norms.
    target_quantile: `dp`'s gamma.
    clip_learning_rate: `dp`'s eta_C.
    count_noise_multiplier: `dp`'s sigma_b; None: clients_per_round / 20.
  """

  name: str = 'mean'
  clip: float = 1.
  trim_fraction: float = 0.1
  num_byzantine: int = 1
  num_selected: int = 1
  noise_multiplier: float = 1.
  adaptive: bool = False
  target_quantile: float = 0.5
  clip_learning_rate: float = 0.2
  count_noise_multiplier: float | None = None
