"""Sandboxed execution of untrusted code with hard limits; outputs are judged on the host."""
