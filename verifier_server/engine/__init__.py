"""The reward library's engine: contract glue, the verifier registry, reward specs, the `verify` core and the worker pool."""
