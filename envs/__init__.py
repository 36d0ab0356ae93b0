"""Gymnasium text environments whose rewards come from the rlvr verifiers."""
