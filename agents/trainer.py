"""The one training loop: roll out, score with the env's verifier, estimate advantages, update (ALGORITHMS.md §7)."""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rlvr.agents import advantages as adv
from rlvr.agents import diagnostics
from rlvr.agents.batch import TensorBatch, Trajectory, collate
from rlvr.agents.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, save_model_dir
from rlvr.agents.collect import PromptEncoder, RolloutCollector
from rlvr.agents.config import ConfigError, TrainConfig
from rlvr.agents.distributed import World, init_world
from rlvr.agents.losses import aggregate, kl_estimate, make_kl_controller, policy_loss, value_loss
from rlvr.agents.masked import masked_mean
from rlvr.agents.metrics import MetricsLog, plot_curves, read_metrics
from rlvr.agents.policy import ForwardOutput, Policy, load_model, load_tokenizer, make_reference
from rlvr.agents.rollout.base import RolloutBackend, SamplingParams
from rlvr.agents.sft import sft_warm_start
from rlvr.errors import RlvrError

#: Held-out evaluation tasks use env seeds from here (training seeds stay far below).
EVAL_SEED_BASE = 1_000_000_000
#: Consecutive steps without a single scorable reward after which the run stops.
MAX_UNSCORED_STEPS = 3


class TrainingError(RlvrError, RuntimeError):
    """The run cannot go on (the reward service is down, every reward unscorable...); says why."""


@dataclass
class StepData:
    """A rollout batch with everything the update needs, all detached."""

    batch: TensorBatch
    mask: torch.Tensor
    advantages: torch.Tensor
    old_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None
    values: torch.Tensor | None = None
    returns: torch.Tensor | None = None
    is_weights: torch.Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    initial_eval: dict[str, float]
    final_eval: dict[str, float]
    seconds_per_step: float
    metrics: list[dict[str, Any]]


class Trainer:
    """Trains `config.model` on `config.env` with the resolved `config.algo` preset.

    Build it, then `train()`. The pieces are usable alone: `rollout(step)` returns a scored
    `StepData`, `update(data)` applies one rollout batch's optimisation (epochs x minibatches).
    """

    def __init__(
        self, config: TrainConfig, *, world: World | None = None, backend: RolloutBackend | None = None
    ):
        self.config = config.resolved()
        self.world = world or init_world()
        cfg = self.config
        if cfg.prompts_per_step % self.world.size:
            raise ConfigError(
                f"prompts_per_step={cfg.prompts_per_step} must be a multiple of the number of processes "
                f"({self.world.size})"
            )
        torch.manual_seed(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.output_dir = Path(cfg.output_dir)
        self.model_dir = self._model_dir()
        self.tokenizer = load_tokenizer(self.model_dir, cfg.gguf_file)
        model = load_model(self.model_dir, gguf_file=cfg.gguf_file, dtype=self._dtype()).to(self.world.device)
        model = self._with_memory_options(model)
        model.train()  # transformers checkpoints activations only in train mode; the models here have no dropout
        self.policy = Policy(model, value_head=cfg.advantage == "gae", temperature=cfg.temperature)
        self.policy.to(self.world.device)
        self.reference = make_reference(self.policy) if cfg.beta else None
        self.chat_template = (
            cfg.chat_template if cfg.chat_template is not None else bool(self.tokenizer.chat_template)
        )
        self.encoder = PromptEncoder(self.tokenizer, chat_template=self.chat_template)
        self.backend = backend or self._make_backend()
        self.collector = self._make_collector(
            cfg.prompts_per_step // self.world.size * cfg.group_size, cfg.group_size
        )
        self.eval_collector: RolloutCollector | None = None
        self._make_optimizer()
        self.kl = make_kl_controller(cfg.beta or 0.0, cfg.kl_target, cfg.kl_horizon)
        self.ema = adv.EMABaseline(cfg.ema_decay)
        self.step = 0
        self.skipped_steps = 0
        self._unscored_steps = 0

    # -- setup -------------------------------------------------------------------------------------

    def _model_dir(self) -> Path:
        cfg = self.config
        initial = self.output_dir / "initial"
        if (
            cfg.resume
            and cfg.sft_steps
            and (initial / "config.json").exists()
            and latest_checkpoint(self.output_dir)
        ):
            return initial  # a resumed run starts from its own warm-started model (and reference)
        if cfg.model != "tiny":
            return Path(cfg.model)
        from rlvr.agents.tiny import build_tiny_for_env

        path = self.output_dir / "tiny-base"
        if self.world.is_main and not (path / "config.json").exists():
            self._check_env_id()
            try:
                build_tiny_for_env(path, cfg.env, cfg.env_kwargs, seed=cfg.seed)
            except TypeError as exc:
                raise ConfigError(f"env {cfg.env!r} rejected env_kwargs {cfg.env_kwargs}: {exc}") from None
        self.world.barrier()
        return path

    def _make_optimizer(self) -> None:
        cfg = self.config
        self.parameters = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
        warmup = max(cfg.warmup_steps, 1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / warmup)
        )

    def _dtype(self) -> torch.dtype:
        if self.config.dtype == "bfloat16" or (
            self.config.dtype == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        ):
            return torch.bfloat16
        return torch.float32

    def _with_memory_options(self, model: Any) -> Any:
        cfg = self.config
        if cfg.gradient_checkpointing:
            enable = (
                getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
            )
            enable()
            model.config.use_cache = False
        return self._with_lora(model) if cfg.lora is not None else model

    def _with_lora(self, model: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        cfg = self.config
        assert cfg.lora is not None
        lora = LoraConfig(
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.target_modules,
            task_type="CAUSAL_LM",
        )
        if cfg.gradient_checkpointing:
            model.enable_input_require_grads()
        return get_peft_model(model, lora)

    def _make_backend(self) -> RolloutBackend:
        cfg = self.config
        if cfg.backend == "vllm":
            from rlvr.agents.rollout.vllm import VLLMBackend

            return VLLMBackend(
                str(self.model_dir),
                gguf_file=cfg.gguf_file,
                gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
                seed=cfg.seed,
            )
        from rlvr.agents.rollout.hf import HFBackend

        return HFBackend(self.policy.model, self.tokenizer, batch_size=cfg.generation_batch_size)

    def _check_env_id(self) -> None:
        import difflib

        import gymnasium

        import rlvr.envs  # noqa: F401 - registers the ids

        if self.config.env not in gymnasium.registry:
            ids = [i for i in gymnasium.registry if i.startswith("rlvr/")]
            close = difflib.get_close_matches(self.config.env, ids, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"env {self.config.env!r} is not registered: {hint}rlvr envs: {', '.join(sorted(ids))}"
            )

    def _make_collector(self, rows: int, group_size: int) -> RolloutCollector:
        import gymnasium

        self._check_env_id()
        cfg = self.config
        context = getattr(self.policy.model.config, "max_position_embeddings", 4096)
        collector = RolloutCollector(None, self.backend, self.encoder, max_context=context)
        kwargs = {"verifier": cfg.verifier, **cfg.env_kwargs, "token_counter": collector.count_tokens}
        try:
            vec = gymnasium.make_vec(cfg.env, num_envs=rows, group_size=group_size, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"env {cfg.env!r} rejected env_kwargs {cfg.env_kwargs}: {exc}") from None
        if cfg.overlong_buffer:
            for env in vec.unwrapped.envs:  # type: ignore[attr-defined]
                term = env.reward_spec.terms.add(name="overlong", verifier="overlong", weight=1.0)
                term.options.update(
                    {
                        "max_length": cfg.max_new_tokens,
                        "buffer": cfg.overlong_buffer * cfg.max_new_tokens,
                        "unit": "tokens",
                    }
                )
        collector.vec_env = vec
        return collector

    # -- rollouts ----------------------------------------------------------------------------------

    def sampling(self, *, greedy: bool = False, seed: int | None = None) -> SamplingParams:
        cfg = self.config
        return SamplingParams(
            max_new_tokens=cfg.max_new_tokens,
            temperature=0.0 if greedy else cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k,
            seed=seed,
        )

    def _train_seed(self, step: int, round_: int) -> int:
        """Env seed of this rank's first group at `step` (generation round `round_`): disjoint per rank."""
        cfg = self.config
        groups = cfg.prompts_per_step // self.world.size
        index = ((step * cfg.max_gen_batches + round_) * self.world.size + self.world.rank) * groups
        return 1_000_000 * (cfg.seed + 1) + index

    def collect(self, step: int) -> tuple[list[Trajectory], dict[str, float]]:
        """This rank's trajectories for `step`; with dynamic sampling, only groups with reward variance."""
        cfg = self.config
        kept: list[Trajectory] = []
        wanted = cfg.prompts_per_step // self.world.size
        dropped = 0
        drawn: list[Trajectory] = []
        rounds = cfg.max_gen_batches if cfg.dynamic_sampling else 1
        for round_ in range(rounds):
            seed = self._train_seed(step, round_)
            trajectories = self._collect_checked(
                self.collector, seed, self.sampling(seed=seed), group_offset=round_ * wanted
            )
            drawn.extend(trajectories)
            if not cfg.dynamic_sampling:
                kept = trajectories
                break
            for group in _groups(trajectories, cfg.group_size):
                scores = [t.score for t in group if t.scorable]
                if len(scores) >= 2 and max(scores) > min(scores):
                    kept.extend(group)
                else:
                    dropped += 1
            if len(kept) >= wanted * cfg.group_size:
                break
        if cfg.dynamic_sampling:
            kept = kept[: wanted * cfg.group_size]
            if not kept:  # nothing informative: train on the last draw (zero advantages, KL only)
                kept = drawn[-wanted * cfg.group_size :]
        return kept, {
            "dynamic_sampling/dropped_groups": float(dropped),
            "rollout/rows_drawn": float(len(drawn)),
        }

    def _collect_checked(
        self, collector: RolloutCollector, seed: int, params: SamplingParams, **kw: Any
    ) -> list[Trajectory]:
        try:
            return collector.collect(seed, params, **kw)
        except Exception as exc:
            if not type(exc).__module__.startswith("grpc"):
                raise
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise TrainingError(
                f"the reward service {self.config.verifier} failed after retries ({details}); start it "
                "(`rlvr serve`) or drop `verifier` to score in process. Nothing was trained on these rollouts."
            ) from None

    def rollout(self, step: int) -> StepData:
        """Sample, score and prepare one rollout batch (advantages, old/ref logprobs, values)."""
        started = time.perf_counter()
        trajectories, metrics = self.collect(step)
        data = self.prepare(trajectories)
        data.metrics.update(metrics)
        data.metrics["time/generate"] = time.perf_counter() - started - data.metrics["time/logprob"]
        return data

    def prepare(self, trajectories: list[Trajectory]) -> StepData:
        """Collate scored trajectories and compute what the update needs (old/ref logprobs, advantages)."""
        cfg = self.config
        timer = _Timer()
        metrics: dict[str, float] = {}
        batch = collate(trajectories, self.tokenizer.pad_token_id)
        known = ~torch.isnan(batch.scores)
        mask = batch.response_mask * known[:, None]
        if cfg.mask_truncated:
            mask = mask * (~batch.truncated)[:, None]
        metrics.update(self._rollout_metrics(trajectories, batch))
        self._check_scored(trajectories, known)
        data = StepData(batch=batch, mask=mask, advantages=torch.zeros_like(mask))
        need_old = (
            (cfg.epochs or 1) * (cfg.minibatches or 1) > 1
            or cfg.is_correction
            or (bool(cfg.beta) and cfg.kl_placement == "reward")
        )
        with timer("logprob"), torch.no_grad():
            if need_old or cfg.advantage == "gae":
                old = self._no_grad_forward(batch)
                data.old_logp = old.logp if need_old else None
                data.values = old.values
            if cfg.beta:
                data.ref_logp = self._micro_map(
                    batch, lambda mb: self.policy.reference_logp(mb, self.reference)
                )
        self._estimate(data)
        if cfg.is_correction and data.old_logp is not None:
            data.is_weights = torch.exp(data.old_logp - batch.sampler_logprobs).clamp(max=cfg.is_cap) * mask
        mismatch = (data.old_logp - batch.sampler_logprobs).abs() if data.old_logp is not None else None
        if mismatch is not None:
            metrics["sampling/logprob_diff_mean"] = float(masked_mean(mismatch, mask))
            metrics["sampling/logprob_diff_max"] = float((mismatch * mask).max()) if mask.any() else 0.0
        data.metrics.update(metrics)
        data.metrics["time/logprob"] = timer.totals["logprob"]
        return data

    def _check_scored(self, trajectories: list[Trajectory], known: torch.Tensor) -> None:
        self._unscored_steps = 0 if bool(known.any()) else self._unscored_steps + 1
        if self._unscored_steps >= MAX_UNSCORED_STEPS:
            statuses = Counter(s for t in trajectories for s in t.statuses)
            raise TrainingError(
                f"no completion could be scored for {MAX_UNSCORED_STEPS} steps in a row (statuses: "
                f"{dict(statuses)}); the verifier is failing: check its messages with `rlvr verify`"
            )

    def _no_grad_forward(self, batch: TensorBatch) -> ForwardOutput:
        outputs = [self.policy(batch.rows(idx)) for idx in self._micro_indices(torch.arange(len(batch)))]
        logp = _pad_cat([o.logp for o in outputs], batch.response_ids.shape[1])
        values = (
            _pad_cat([o.values for o in outputs], batch.response_ids.shape[1])
            if outputs[0].values is not None
            else None
        )
        return ForwardOutput(logp, None, values)

    def _micro_map(self, batch: TensorBatch, fn: Callable[[TensorBatch], torch.Tensor]) -> torch.Tensor:
        parts = [fn(batch.rows(idx)) for idx in self._micro_indices(torch.arange(len(batch)))]
        return _pad_cat(parts, batch.response_ids.shape[1])

    def _micro_indices(self, rows: torch.Tensor) -> Iterator[torch.Tensor]:
        yield from torch.split(rows, self.config.micro_batch_size)

    def _estimate(self, data: StepData) -> None:
        """Token rewards (with KL in the reward) and advantages, by the configured estimator."""
        cfg = self.config
        batch, mask = data.batch, data.mask
        scores = batch.scores.clone()
        kl_rewards = torch.zeros_like(mask)
        if cfg.beta and cfg.kl_placement == "reward":
            assert data.old_logp is not None and data.ref_logp is not None
            kl_rewards = (
                -self.kl.value * kl_estimate(data.old_logp, data.ref_logp, cfg.kl_estimator or "k1") * mask
            )
            scores = scores + kl_rewards.sum(-1)
        token_rewards = batch.token_rewards * mask + kl_rewards
        g = cfg.group_size
        kind = cfg.advantage
        if kind == "ema":
            known = ~scores.isnan()
            count = self.world.sum(float(known.sum()))
            mean = self.world.sum(float(scores[known].sum())) / count if count else None
            per_row = self.ema.advantages(scores, batch_mean=mean)
        elif kind == "rloo":
            per_row = adv.rloo_advantages(scores, g)
        elif kind in ("grpo", "dr_grpo"):
            per_row = adv.group_advantages(scores, g, scale=cfg.scale_rewards or "group")
        else:
            per_row = None
        if per_row is not None:
            data.advantages = per_row[:, None] * mask
        elif kind == "reinforce_pp":
            data.advantages = adv.reinforce_pp_advantages(
                token_rewards, mask, gamma=cfg.gamma or 1.0, whiten=self.world.whiten
            )
        elif kind == "reinforce_pp_baseline":
            data.advantages = adv.reinforce_pp_baseline_advantages(
                batch.scores, g, mask, kl_rewards=kl_rewards, gamma=cfg.gamma or 1.0, whiten=self.world.whiten
            )
        elif kind == "gae":
            assert data.values is not None
            raw, data.returns = adv.gae(
                token_rewards, data.values, mask, gamma=cfg.gamma or 1.0, lam=cfg.lam or 1.0
            )
            data.advantages = self.world.whiten(raw, mask)
        data.advantages = torch.nan_to_num(data.advantages) * mask
        data.metrics.update(diagnostics.advantage_stats(data.advantages, mask))

    # -- update ------------------------------------------------------------------------------------

    def update(self, data: StepData) -> dict[str, float]:
        """`epochs` passes of `minibatches` optimizer steps over the batch; the loss normalisers of each
        optimizer step count tokens and sequences over all its micro-batches and ranks (pitfall 2)."""
        cfg = self.config
        epochs, minibatches = cfg.epochs or 1, cfg.minibatches or 1
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        generator = torch.Generator().manual_seed(cfg.seed * 7919 + self.step)
        for _ in range(epochs):
            order = (
                torch.randperm(len(data.batch), generator=generator)
                if minibatches > 1
                else torch.arange(len(data.batch))
            )
            for chunk in torch.tensor_split(order, minibatches):
                stats = self._optimizer_step(data, chunk)
                for key, value in stats.items():
                    if value is not None and math.isfinite(value):
                        sums[key] = sums.get(key, 0.0) + value
                        counts[key] = counts.get(key, 0) + 1
        self.scheduler.step()
        out = {key: sums[key] / counts[key] for key in sums}
        out["lr"] = float(self.scheduler.get_last_lr()[0])
        return out

    def _optimizer_step(self, data: StepData, chunk: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        mask = data.mask[chunk]
        tokens = self.world.sum(float(mask.sum()))
        sequences = self.world.sum(float((mask.sum(-1) > 0).sum()))
        stats: dict[str, float] = {}
        finite = True
        self.optimizer.zero_grad(set_to_none=True)
        for micro in self._micro_indices(chunk):
            loss, micro_stats = self._micro_loss(data, micro, tokens, sequences)
            if not torch.isfinite(loss):
                finite = False
                break
            loss.backward()
            for key, value in micro_stats.items():
                stats[key] = stats.get(key, 0.0) + value
        finite = self.world.sum(0.0 if finite else 1.0) == 0
        if finite:
            self.world.sum_gradients(self.parameters)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.parameters, cfg.max_grad_norm))
            finite = math.isfinite(grad_norm)
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            self.skipped_steps += 1
            return {"skipped": 1.0}
        self.optimizer.step()
        weight = max(float(mask.sum()), 1.0)
        out = {key: value / weight for key, value in stats.items() if not key.startswith("loss/")}
        out.update({key: value for key, value in stats.items() if key.startswith("loss/")})
        out["grad_norm"] = grad_norm
        out["skipped"] = 0.0
        return out

    def _micro_loss(
        self, data: StepData, micro: torch.Tensor, tokens: float, sequences: float
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        mb = data.batch.rows(micro)
        width = mb.response_ids.shape[1]
        device = self.world.device

        def take(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[micro][:, :width].to(device)

        mask, advantages = take(data.mask), take(data.advantages)
        assert mask is not None and advantages is not None
        old, ref = take(data.old_logp), take(data.ref_logp)
        out = self.policy(mb, with_entropy=True)
        per_token, ratio = policy_loss(
            out.logp,
            old if cfg.use_ratio else None,
            advantages,
            eps_low=cfg.eps_low or 0.0,
            eps_high=cfg.eps_high or 0.0,
            dual_clip=cfg.dual_clip,
        )
        if data.is_weights is not None:
            weights = take(data.is_weights)
            assert weights is not None
            per_token = per_token * weights
        norms = {"num_tokens": tokens, "num_sequences": sequences, "max_length": cfg.max_new_tokens}
        mode = cfg.loss_agg or "token-mean"
        kl_ref = None
        if ref is not None:
            kl_ref = kl_estimate(out.logp, ref, cfg.kl_estimator or "k3")
            if cfg.kl_placement == "loss":
                per_token = per_token + self.kl.value * kl_ref
        loss = aggregate(per_token, mask, mode, **norms)
        assert out.entropy is not None
        if cfg.entropy_coef:
            loss = loss - cfg.entropy_coef * aggregate(out.entropy, mask, "token-mean", num_tokens=tokens)
        stats: dict[str, float] = {"loss/policy": float(loss.detach())}
        if out.values is not None:
            old_values, returns = take(data.values), take(data.returns)
            assert old_values is not None and returns is not None
            v_loss, v_clipped = value_loss(out.values, old_values, returns, clip_eps=cfg.value_clip)
            value_term = aggregate(v_loss, mask, "token-mean", num_tokens=tokens)
            loss = loss + (cfg.vf_coef or 0.0) * value_term
            stats["loss/value"] = float(value_term.detach())
            stats["value/clip_ratio"] = float((v_clipped * mask).sum())
            stats["value/explained_variance"] = diagnostics.explained_variance(
                out.values.detach(), returns, mask
            ) * float(mask.sum())
        n = float(mask.sum())
        stats["entropy"] = float((out.entropy.detach() * mask).sum())
        if kl_ref is not None:
            stats["kl/ref"] = float((kl_ref.detach() * mask).sum())
        ratio_stats = diagnostics.ratio_stats(
            ratio,
            out.logp.detach(),
            old if old is not None else out.logp.detach(),
            advantages,
            mask,
            cfg.eps_low or 0.0,
            cfg.eps_high or 0.0,
        )
        stats.update({key: value * n for key, value in ratio_stats.items()})
        return loss, stats

    # -- evaluation --------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, float]:
        """Greedy pass@1 and mean reward on `eval_tasks` held-out env seeds (the same for every run)."""
        cfg = self.config
        if self.eval_collector is None:
            self.eval_collector = self._make_collector(min(cfg.eval_tasks, 100), 1)
        collector = self.eval_collector
        rows = collector.vec_env.num_envs
        shares = range(self.world.rank * rows, cfg.eval_tasks, rows * self.world.size)
        correct = total = reward = 0.0
        for start in shares:
            trajectories = self._collect_checked(
                collector, EVAL_SEED_BASE + start, self.sampling(greedy=True)
            )
            for t in trajectories[: cfg.eval_tasks - start]:
                total += 1
                correct += float(bool(t.success))
                reward += t.score if t.scorable else 0.0
        total, correct, reward = (self.world.sum(x) for x in (total, correct, reward))
        return {"eval/pass@1": correct / max(total, 1), "eval/mean_reward": reward / max(total, 1)}

    # -- the run -----------------------------------------------------------------------------------

    def run_record(self) -> dict[str, Any]:
        """What `rlvr_train.json` holds: the resolved config and how prompts were built."""
        cfg = self.config
        dumped = cfg.model_dump(mode="json", fallback=repr)  # env_kwargs may hold objects (a verifier client)
        return {
            "config": dumped,
            "env": cfg.env,
            "env_kwargs": dumped["env_kwargs"],
            "observation": cfg.env_kwargs.get("observation", "text"),
            "chat_template": self.chat_template,
            "generation": {
                "max_new_tokens": cfg.max_new_tokens,
                "temperature": cfg.temperature,
                "top_p": cfg.top_p,
                "top_k": cfg.top_k,
            },
            "base_model": str(self.model_dir),
            "step": self.step,
        }

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "kl": self.kl.state_dict(),
            "ema": self.ema.state_dict(),
            "samplers": [s.state_dict() for s in self.collector.vec_env.samplers],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.skipped_steps = int(state["skipped_steps"])
        self.kl.load_state_dict(state["kl"])
        self.ema.load_state_dict(state["ema"])
        for sampler, saved in zip(self.collector.vec_env.samplers, state["samplers"]):
            sampler.load_state_dict(saved)

    def save(self, path: Path) -> None:
        if self.world.is_main:
            save_checkpoint(
                path,
                self.policy,
                self.tokenizer,
                self.optimizer,
                self.scheduler,
                self.state(),
                self.run_record(),
            )
        self.world.barrier()

    def train(self, *, on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
        """Run `config.steps` steps: optional SFT warm start, `initial/`, RL, periodic eval, `final/`."""
        cfg = self.config
        log = (
            MetricsLog(self.output_dir, tensorboard=cfg.tensorboard and self.world.is_main, resume=cfg.resume)
            if self.world.is_main
            else None
        )
        resumed = self._resume() if cfg.resume else False
        if not resumed:
            self._warm_start()
            if self.world.is_main:
                save_model_dir(self.output_dir / "initial", self.policy, self.tokenizer, self.run_record())
        initial_eval = self.evaluate() if not resumed else {}
        if log is not None and initial_eval:
            log.log(self.step, initial_eval)
        bar = _progress(cfg, self.world, start=self.step)
        started, first_step = time.perf_counter(), self.step
        final_eval: dict[str, float] = {}
        try:
            while self.step < cfg.steps:
                t0 = time.perf_counter()
                data = self.rollout(self.step)
                t_update = time.perf_counter()
                metrics = {**data.metrics, **self.update(data)}
                self.backend.sync_weights(self.policy.model)  # vllm: load the new weights; hf: no-op
                metrics["time/update"] = time.perf_counter() - t_update
                self.step += 1
                # every rank steps the controller with the same (global) KL, so their coefficients agree
                self.kl.update(
                    self.world.sum(metrics.get("kl/ref", 0.0)) / self.world.size, cfg.rows_per_step
                )
                metrics["kl/coef"] = self.kl.value
                metrics["time/step"] = time.perf_counter() - t0
                metrics["tokens_per_second"] = (
                    metrics["completions/tokens"] * self.world.size / max(metrics["time/generate"], 1e-9)
                )
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    metrics.update(self.evaluate())
                if self.step == cfg.steps:
                    final_eval = self.evaluate()
                    metrics.update(final_eval)
                if log is not None:
                    log.log(self.step, metrics)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(_postfix(metrics), refresh=False)
                if on_step is not None:
                    on_step(self.step, metrics)
                if cfg.save_every and self.step % cfg.save_every == 0:
                    self.save(self.output_dir / "checkpoints" / f"step-{self.step}")
        except KeyboardInterrupt:
            self.save(self.output_dir / "checkpoints" / f"step-{self.step}")
            if bar is not None:
                bar.close()
            raise
        if bar is not None:
            bar.close()
        if self.world.is_main:
            save_model_dir(self.output_dir / "final", self.policy, self.tokenizer, self.run_record())
        self.save(self.output_dir / "checkpoints" / f"step-{self.step}")
        records: list[dict[str, Any]] = []
        if log is not None:
            log.close()
            records = read_metrics(log.path)
            plot_curves(records, self.output_dir / "curves.png", title=f"{cfg.algo} on {cfg.env}")
        elapsed = time.perf_counter() - started
        return TrainResult(
            self.output_dir,
            self.step,
            initial_eval,
            final_eval,
            elapsed / max(self.step - first_step, 1),
            records,
        )

    def _resume(self) -> bool:
        checkpoint = latest_checkpoint(self.output_dir)
        if checkpoint is None:
            return False
        self.load_state(load_checkpoint(checkpoint, self.policy, self.optimizer, self.scheduler))
        self.backend.sync_weights(self.policy.model)
        return True

    def _warm_start(self) -> None:
        cfg = self.config
        if not cfg.sft_steps:
            return
        env = self.collector.vec_env.envs[0]
        sft_warm_start(
            self.policy,
            self.encoder,
            env,
            steps=cfg.sft_steps,
            lr=cfg.sft_lr,
            batch_size=cfg.sft_batch_size,
            seed=cfg.seed,
            unmarked_share=cfg.sft_unmarked_share,
        )
        if self.policy.uses_lora:
            # fold the warm start into the base, so that base (= reference) is the policy RL starts from
            self.policy.model = self._with_lora(self.policy.model.merge_and_unload())
            self._make_optimizer()
        if self.reference is not None:  # the reference is the policy RL starts from: after the warm start
            self.reference.load_state_dict(self.policy.model.state_dict())
        self.world.barrier()
        self.backend.sync_weights(self.policy.model)

    def _rollout_metrics(self, trajectories: list[Trajectory], batch: TensorBatch) -> dict[str, float]:
        cfg = self.config
        success = torch.tensor([bool(t.success) for t in trajectories])
        out = diagnostics.group_stats(batch.scores, cfg.group_size, success)
        lengths = torch.tensor([float(t.model_tokens) for t in trajectories])
        out.update(diagnostics.length_stats(lengths, batch.truncated))
        out["completions/tokens"] = float(lengths.sum())
        statuses = Counter(s for t in trajectories for s in t.statuses)
        for status in ("TIMEOUT", "ERROR", "INVALID_REQUEST"):
            out[f"status/{status}"] = float(statuses.get(status, 0))
        components: dict[str, list[float]] = {}
        for t in trajectories:
            for key, value in t.components.items():
                components.setdefault(key, []).append(value)
        out.update({f"reward/{key}": sum(v) / len(v) for key, v in components.items()})
        return out


def _pad_cat(parts: list[torch.Tensor], width: int) -> torch.Tensor:
    return torch.cat([torch.nn.functional.pad(p.detach().cpu(), (0, width - p.shape[1])) for p in parts])


def _groups(trajectories: list[Trajectory], size: int) -> Iterator[list[Trajectory]]:
    for start in range(0, len(trajectories), size):
        yield trajectories[start : start + size]


class _Timer:
    """Wall time per named section."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - start

    def seconds(self, prefix: str) -> dict[str, float]:
        return {prefix + name: value for name, value in self.totals.items()}


def _progress(cfg: TrainConfig, world: World, *, start: int) -> Any:
    if not (cfg.progress and world.is_main):
        return None
    from tqdm import tqdm

    return tqdm(total=cfg.steps, initial=start, desc=f"{cfg.algo}", unit="step", dynamic_ncols=True)


def _postfix(metrics: dict[str, float]) -> dict[str, str]:
    keys = {"reward/mean": "reward", "kl/ref": "kl", "eval/pass@1": "pass@1", "time/step": "s/step"}
    return {short: f"{metrics[key]:.3g}" for key, short in keys.items() if key in metrics}
