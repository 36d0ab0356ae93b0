"""Version 1 of the rlvr verifier contract (generated from verifier.proto)."""
