"""The control room's API, one group of routes a module: runs (with the
config catalog and the live events), sweeps (their views and members'
reports), compare, data sets, and models with their predictions. Each
module's `router(room)` answers from one app's `Room`."""
