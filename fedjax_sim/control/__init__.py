"""The control room: a web app to start, watch, stop, resume, extend and
compare runs, inspect clients, upload CSV data and predict
(`python scripts/dashboard.py --workdir=RUNS`)."""

from fedjax_sim.control.app import create_app
from fedjax_sim.control.room import Settings

__all__ = ['Settings', 'create_app']
