"""The config layer: the one place where an `ml_collections.ConfigDict`
(what `scripts/` and `configs/` speak) becomes the typed settings the
library takes. Every other module takes NamedTuples with their defaults."""
