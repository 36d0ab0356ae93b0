"""Bradley–Terry reward models trained on preference pairs (`rlvr rm train`), scored by the `reward_model` verifier."""
