"""`Experiment`: everything a run needs, built from a config by the config
layer (`fedjax_sim.config.experiment.build_experiment`)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh

from fedjax_sim.evaluation import held_out as federated_eval
from fedjax_sim.evaluation import personalization
from fedjax_sim.core.algorithm import FederatedAlgorithm
from fedjax_sim.core.round import RoundFn
from fedjax_sim.data.federated_data import FederatedData
from fedjax_sim.data.registry import Dataset
from fedjax_sim.models.model import Model
from fedjax_sim.run.divergence import DivergenceSettings
from fedjax_sim.run.population import Population
from fedjax_sim.run.schedule import Schedule

PyTree = Any
# `(round_index, server_state) -> metrics` added to every evaluation.
Reporter = Callable[[int, PyTree], dict[str, float]]


class RunSettings(NamedTuple):
  """The run's length, seed, evaluation and checkpoint cadence."""

  seed: int = 0
  rounds: int = 1
  eval_every: int = 1
  checkpoint_every: int = 0  # 0: only after the last round
  checkpoint_keep: int = 3
  on_nonfinite: str = 'stop'  # or 'drop'
  divergence: DivergenceSettings = DivergenceSettings()  # a finite loss that blew up


class Experiment(NamedTuple):
  """A run's parts: data, model, algorithm and its round program, and the
  schedule, population and evaluation around them.

  Attributes:
    population: `directory or None -> Population` (a disk store lives in
      the directory the run record gives it).
    place: host values -> the round's input arrays (replicated on the mesh).
    config_json: the config as JSON data, which pins a run directory.
  """

  dataset: Dataset
  model: Model
  algorithm: FederatedAlgorithm
  round_fn: RoundFn
  sample_fn: Callable[[jax.Array], jax.Array]
  schedule: Schedule
  population: Callable[[str | None], Population]
  placement: str  # the population's: 'device', 'host' or 'disk'
  place: Callable[[PyTree], PyTree]
  settings: RunSettings
  config_json: dict[str, Any]
  reporters: tuple[Reporter, ...] = ()
  personalize: personalization.Evaluator | None = None
  # With data streamed from disk: the ids and data of the fixed seeded
  # subset of clients that client-level evaluation uses.
  client_eval: tuple[np.ndarray, FederatedData] | None = None
  client_test: federated_eval.Evaluator | None = None
  mesh: Mesh | None = None
