"""The rlvr verifier contract (protobuf), by version."""
