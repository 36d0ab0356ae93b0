"""Policies and RL algorithms (GRPO, RLOO, PPO, REINFORCE++) trained against rlvr envs."""
