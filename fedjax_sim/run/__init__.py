"""The runner: a run is a schedule, a population and a run record around the
round program (`schedule.py`, `population.py`, `record.py`), driven by the
short loop of `loop.py` (`fedjax_sim.train`)."""
