"""Aggregation rules (`fedjax_sim.core.Aggregator`) selectable by config."""
