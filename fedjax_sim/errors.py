"""The errors fedjax_sim raises for bad input: one clear message each."""


class ConfigError(ValueError):
  """A configuration field has a bad value; the message names the field."""


class DataError(ValueError):
  """A data set is malformed; the message names the data set and the client."""
