"""The built-in verifiers; importing a module registers its verifiers (`math` is a package of its own)."""
