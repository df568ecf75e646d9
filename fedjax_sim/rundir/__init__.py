"""Run directories: a run's config, metrics, client records, checkpoints,
report and comparisons of runs."""
