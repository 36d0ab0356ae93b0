"""The `vllm` rollout backend: a colocated vLLM engine that samples, and takes the trainer's weights in place.

Written against vLLM's V1 `LLM` API (>= 0.10.2, where `logprobs_mode="processed_logprobs"` returns the
logprobs after temperature, top-k and top-p; ALGORITHMS.md §1.1, pitfall 7):

- prompts go in as token ids (`{"prompt_token_ids": ids}`, the `TokensPrompt` shape), one
  `vllm.SamplingParams` per prompt (`n=1`, `logprobs=0`: the sampled token's logprob only);
- `RequestOutput.outputs[0]` gives `token_ids`, `logprobs` (one `{token_id: Logprob}` per position)
  and `finish_reason` ("stop" for EOS / stop token / stop string, "length" for `max_tokens`);
- weights are reloaded in process: `llm.collective_rpc(fn, args=(pairs,))` runs `fn(worker, pairs)`
  on the worker, which calls `worker.model_runner.model.load_weights(pairs)` with Hugging Face names
  (vLLM's own loaders map them onto fused/stacked parameters), then `llm.reset_prefix_cache()` drops
  KV blocks computed with the old weights. The engine is kept in this process
  (`VLLM_ENABLE_V1_MULTIPROCESSING=0` unless the caller set it), so the tensors are passed by
  reference, not serialised.

vLLM is imported lazily, inside the constructor: this module imports without it. The pieces that
need no engine are module functions (`sampling_kwargs`, `engine_kwargs`, `to_generation`,
`vllm_weights`), tested on CPU with objects shaped like vLLM's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from rlvr.agents.rollout.base import Generation, SamplingParams, cut_at_eos
from rlvr.errors import RlvrError

#: What `pip` needs for this backend (the `vllm` extra pins the version whose API this targets).
INSTALL_HINT = 'pip install "rlvr[vllm]"'
#: Weights travel to the engine in chunks of about this many bytes (bounds the merged-LoRA copies held).
SYNC_CHUNK_BYTES = 1 << 28

_PEFT_BASE_PREFIX = "base_model.model."


class BackendUnavailable(RlvrError, RuntimeError):
    """The vllm backend cannot start here: vLLM is not installed, or there is no CUDA GPU."""


class BackendError(RlvrError, RuntimeError):
    """vLLM answered something the backend cannot use, or was asked for something it cannot do."""


# -- (a) sampling and engine arguments -------------------------------------------------------------


def sampling_kwargs(
    params: SamplingParams, *, index: int = 0, stop_token_ids: Iterable[int] = ()
) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for prompt number `index` of a call.

    One completion per prompt (`n=1`; groups are repeated prompts), the sampled token's logprob
    (`logprobs=0`), `top_k=-1` when ours is 0 (off), no detokenisation (the caller decodes). A seeded
    call gives prompt `index` the seed `seed + index`: vLLM seeds each request's generator, so one
    seed for all would give every copy of a prompt in a group the same completion.
    """
    return {
        "n": 1,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k if params.top_k > 0 else -1,
        "max_tokens": params.max_new_tokens,
        "seed": None if params.seed is None else params.seed + index,
        "logprobs": 0,
        "stop_token_ids": sorted(stop_token_ids),
        "detokenize": False,
    }


def engine_kwargs(
    model: str,
    *,
    gpu_memory_utilization: float = 0.3,
    seed: int = 0,
    enable_sleep_mode: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM`: ours, then `extra` (any `EngineArgs` field) on top.

    `logprobs_mode` is fixed to "processed_logprobs" (the sampler's logprobs after temperature,
    top-k and top-p, which is what the trainer's ratio needs); passing another mode is an error.
    """
    mode = extra.pop("logprobs_mode", "processed_logprobs")
    if mode != "processed_logprobs":
        raise BackendError(
            f"logprobs_mode={mode!r}: the vllm backend needs 'processed_logprobs' (logprobs after "
            "temperature, top-k and top-p; ALGORITHMS.md §1.1)"
        )
    kwargs: dict[str, Any] = {
        "model": model,
        "gpu_memory_utilization": gpu_memory_utilization,
        "seed": seed,
        "logprobs_mode": mode,
        "enable_sleep_mode": enable_sleep_mode,
    }
    kwargs.update(extra)
    return kwargs


# -- (b) one vLLM completion -> Generation -------------------------------------------------------------


def _logprob_value(entry: Any) -> float:
    """A vLLM `Logprob` (has `.logprob`) or a bare float."""
    return float(getattr(entry, "logprob", entry))


def to_generation(completion: Any, eos_ids: set[int]) -> Generation:
    """Our `Generation` from one vLLM `CompletionOutput` (`RequestOutput.outputs[0]`).

    Each position's logprob is the sampled token's entry of that position's `{token_id: Logprob}`.
    The completion is cut through its first EOS (inclusive, so the EOS stays; `cut_at_eos`): vLLM can
    report "length" for a completion whose last allowed token was the EOS, and that one did stop.
    vLLM's "stop" without one of `eos_ids` (a stop string, another stop token) keeps every token and
    stays "stop"; anything else (an aborted request) is a `BackendError`.
    """
    reason = completion.finish_reason
    if reason not in ("stop", "length"):
        raise BackendError(
            f"vLLM finished a completion with finish_reason={reason!r}; expected 'stop' or 'length'"
        )
    token_ids = [int(t) for t in completion.token_ids]
    if completion.logprobs is None:
        raise BackendError("vLLM returned no logprobs: the request must ask for logprobs=0")
    if len(completion.logprobs) != len(token_ids):
        raise BackendError(
            f"vLLM returned {len(completion.logprobs)} logprob positions for {len(token_ids)} tokens"
        )
    logprobs: list[float] = []
    for position, (token, candidates) in enumerate(zip(token_ids, completion.logprobs)):
        if token not in candidates:
            raise BackendError(
                f"vLLM's logprobs at position {position} do not include the sampled token {token}"
            )
        logprobs.append(_logprob_value(candidates[token]))
    generation = cut_at_eos(token_ids, logprobs, eos_ids)
    if reason == "stop":
        generation.finish_reason = "stop"
    return generation


# -- (c) trained model -> (name, tensor) pairs with the names vLLM loads -----------------------------------


def _unwrap(model: Any) -> Any:
    """The module under DDP (`.module`) and `torch.compile` (`._orig_mod`) wrappers."""
    import torch

    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "base_model") and hasattr(model, "active_adapter")


def _lora_effective_delta(layer: Any) -> Any:
    """What the layer's forward adds to `base_layer.weight` right now (None: nothing).

    Mirrors peft's LoRA forward: adapters disabled -> the base alone (so merged deltas are taken back
    out); merged -> the base, which already holds them; otherwise base + each active adapter's delta.
    """
    merged = list(getattr(layer, "merged_adapters", []))
    active = [
        name for name in layer.active_adapters if name in layer.lora_A or name in layer.lora_embedding_A
    ]
    if any(layer.use_dora.get(name, False) for name in merged + active):
        raise BackendError(
            "the vllm backend cannot sync a DoRA adapter (its merge is not a weight delta): use plain LoRA"
        )
    if getattr(layer, "disable_adapters", False):
        deltas = [-layer.get_delta_weight(name) for name in merged]
    elif merged:
        return None
    else:
        deltas = [layer.get_delta_weight(name) for name in active]
    if not deltas:
        return None
    total = deltas[0]
    for delta in deltas[1:]:
        total = total + delta
    return total


def _peft_weights(model: Any) -> Iterator[tuple[str, Any]]:
    """A peft LoRA model's weights as the merged base model's, without touching the model."""
    peft_types = {str(getattr(c, "peft_type", "")) for c in model.peft_config.values()}
    if not all(t.endswith("LORA") for t in peft_types):
        raise BackendError(f"the vllm backend can sync LoRA adapters only, not {sorted(peft_types)}")
    lora_layers: dict[str, Any] = {}
    saved_wrappers: dict[str, str] = {}
    for name, module in model.named_modules():
        if (
            hasattr(module, "get_delta_weight")
            and hasattr(module, "base_layer")
            and hasattr(module, "lora_A")
        ):
            lora_layers[name] = module
        elif hasattr(module, "original_module") and hasattr(module, "modules_to_save"):
            adapter = getattr(module, "active_adapter", None)
            adapter = adapter[0] if isinstance(adapter, list | tuple) else adapter
            use_copy = not getattr(module, "disable_adapters", False) and adapter in module.modules_to_save
            saved_wrappers[name] = f"modules_to_save.{adapter}" if use_copy else "original_module"
    for key, tensor in model.state_dict().items():
        new_key: str | None = key
        parts = key.split(".")
        for cut in range(1, len(parts)):
            prefix, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
            if prefix in lora_layers:
                if not rest.startswith("base_layer."):
                    new_key = None  # lora_A / lora_B / ...: folded into the base weight below
                    break
                rest = rest.removeprefix("base_layer.")
                new_key = f"{prefix}.{rest}"
                if rest == "weight":
                    delta = _lora_effective_delta(lora_layers[prefix])
                    if delta is not None:
                        tensor = tensor + delta.to(device=tensor.device, dtype=tensor.dtype)
                break
            if prefix in saved_wrappers:
                chosen = saved_wrappers[prefix] + "."
                new_key = f"{prefix}.{rest.removeprefix(chosen)}" if rest.startswith(chosen) else None
                break
        if new_key is not None:
            yield new_key.removeprefix(_PEFT_BASE_PREFIX), tensor


def vllm_weights(model: Any) -> Iterator[tuple[str, Any]]:
    """`(name, tensor)` pairs of `model`'s current weights under the plain Hugging Face names.

    A plain model gives its `state_dict()`. A peft LoRA model gives the weights of the merged model
    its forward computes (base + scale * B @ A for each active adapter, computed per layer from
    `get_delta_weight`, the adapters left unmerged and the model untouched), named without peft's
    `base_model.model.` / `.base_layer` parts; `lora_*` tensors are dropped, and a `modules_to_save`
    module gives its active copy under the original name. DDP and `torch.compile` wrappers are
    looked through. Tensors are detached, on the model's device and in its dtype (vLLM casts).
    """
    import torch

    model = _unwrap(model)
    with torch.no_grad():
        if _is_peft(model):
            yield from _peft_weights(model)
        else:
            yield from model.state_dict().items()


def _chunks(pairs: Iterable[tuple[str, Any]], max_bytes: int) -> Iterator[list[tuple[str, Any]]]:
    chunk: list[tuple[str, Any]] = []
    size = 0
    for name, tensor in pairs:
        chunk.append((name, tensor))
        size += tensor.numel() * tensor.element_size()
        if size >= max_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _load_weights_on_worker(worker: Any, weights: list[tuple[str, Any]]) -> int:
    """Runs on a vLLM worker (`collective_rpc` passes the worker first): load HF-named weights."""
    runner = getattr(worker, "model_runner", None)
    if runner is None:  # a WorkerWrapperBase that does not forward attributes
        runner = worker.worker.model_runner
    get_model = getattr(runner, "get_model", None)
    model = get_model() if callable(get_model) else runner.model
    loaded = model.load_weights(weights)
    return len(weights) if loaded is None else len(loaded)


def load_into_engine(
    llm: Any, weights: Iterable[tuple[str, Any]], *, chunk_bytes: int = SYNC_CHUNK_BYTES
) -> int:
    """Load `weights` into every worker of `llm`, then reset its prefix cache; returns how many loaded."""
    loaded = 0
    for chunk in _chunks(weights, chunk_bytes):
        counts = llm.collective_rpc(_load_weights_on_worker, args=(chunk,))
        loaded += min(counts) if counts else 0
    llm.reset_prefix_cache()
    return loaded


# -- engine setup ------------------------------------------------------------------------------------


def eos_token_ids(model_dir: str | Path, tokenizer: Any = None) -> set[int]:
    """The EOS ids the `hf` backend stops at: the generation config's, else the config's, else the tokenizer's."""
    from transformers import AutoConfig, GenerationConfig

    eos: Any = None
    with contextlib.suppress(OSError):
        eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    if eos is None:
        with contextlib.suppress(OSError, ValueError):
            eos = AutoConfig.from_pretrained(model_dir).eos_token_id
    if eos is None and tokenizer is not None:
        eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise BackendError(
            f"no EOS token id in {model_dir} (generation_config.json, config.json or tokenizer)"
        )
    return {int(e) for e in eos} if isinstance(eos, list | tuple) else {int(eos)}


def dequantised_checkpoint(model_dir: str | Path, gguf_file: str, out_dir: str | Path) -> Path:
    """Save the GGUF model de-quantised (as the trainer loads it) as a plain HF checkpoint in `out_dir`.

    vLLM would serve a GGUF file quantised, and its GGUF layers cannot take the trainer's full-precision
    weights in `sync_weights`; serving the same de-quantised weights the trainer holds keeps the
    sampler and the trainer on one model.
    """
    from rlvr.agents.policy import load_model, load_tokenizer

    out = Path(out_dir)
    load_model(model_dir, gguf_file=gguf_file).save_pretrained(out)
    load_tokenizer(model_dir, gguf_file=gguf_file).save_pretrained(out)
    return out


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise BackendUnavailable(
            f"the vllm backend needs vLLM ({INSTALL_HINT}) and a CUDA GPU; vLLM is not importable here "
            f"({exc}). Use backend: hf to train on CPU."
        ) from exc
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "the vllm backend needs a CUDA GPU and torch.cuda.is_available() is False here. "
            "Use backend: hf to train on CPU."
        )
    return vllm


class VLLMBackend:
    """Samples with a vLLM engine in this process; `sync_weights(model)` loads the trainer's weights into it.

    `model_dir` is a Hugging Face checkpoint dir; with `gguf_file`, the GGUF model is de-quantised into
    a temporary checkpoint first (see `dequantised_checkpoint`). `engine_kwargs` go to `vllm.LLM` as
    they are (`dtype`, `max_model_len`, `enforce_eager`, `tensor_parallel_size`, ...).

    With `enable_sleep_mode`, the engine sleeps (level 1: weights offloaded to CPU, KV cache freed)
    after each `generate`, leaving the GPU to the trainer, and wakes up for the next `generate` or
    `sync_weights`.

    Logprobs are vLLM's processed logprobs: after temperature, top-k and top-p (ALGORITHMS.md
    pitfall 7: keep top-p/top-k off for on-policy training unless IS correction is on). vLLM computes
    in its own dtype and kernels, so its logprobs match the trainer's only to within that precision.
    """

    name = "vllm"

    def __init__(
        self,
        model_dir: str,
        *,
        gguf_file: str | None = None,
        gpu_memory_utilization: float = 0.3,
        seed: int = 0,
        enable_sleep_mode: bool = False,
        **engine_kwargs_: Any,
    ):
        vllm = _import_vllm()
        self._sampling_params_cls = vllm.SamplingParams
        self._tmpdir: str | None = None
        model_path = str(model_dir)
        if gguf_file:
            self._tmpdir = tempfile.mkdtemp(prefix="rlvr-vllm-")
            model_path = str(dequantised_checkpoint(model_dir, gguf_file, self._tmpdir))
        # In-process engine core: collective_rpc then hands the worker our tensors by reference.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        self.llm = vllm.LLM(
            **engine_kwargs(
                model_path,
                gpu_memory_utilization=gpu_memory_utilization,
                seed=seed,
                enable_sleep_mode=enable_sleep_mode,
                **engine_kwargs_,
            )
        )
        self.sleep_mode = enable_sleep_mode
        self._asleep = False
        tokenizer = None
        with contextlib.suppress(AttributeError, ValueError):  # skip_tokenizer_init: no tokenizer
            tokenizer = self.llm.get_tokenizer()
        self.eos_ids = eos_token_ids(model_path, tokenizer)

    # -- RolloutBackend ----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        self._wake_up()
        requests = [{"prompt_token_ids": [int(t) for t in prompt]} for prompt in prompts]
        sampling = [
            self._sampling_params_cls(**sampling_kwargs(params, index=i, stop_token_ids=self.eos_ids))
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(requests, sampling_params=sampling, use_tqdm=False)
        if len(outputs) != len(prompts):
            raise BackendError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        generations = [to_generation(output.outputs[0], self.eos_ids) for output in outputs]
        if self.sleep_mode:
            self.llm.sleep(level=1)
            self._asleep = True
        return generations

    def sync_weights(self, model: Any) -> None:
        """Load `model`'s current weights into the engine (LoRA merged on the fly) and reset its prefix cache."""
        self._wake_up()
        if load_into_engine(self.llm, vllm_weights(model)) == 0:
            raise BackendError(
                "vLLM loaded none of the synced weights: are the names those of the served model?"
            )

    # -- lifecycle ---------------------------------------------------------------------------------

    def _wake_up(self) -> None:
        if self._asleep:
            self.llm.wake_up()
            self._asleep = False

    def close(self) -> None:
        """Drop the engine and the de-quantised GGUF checkpoint, if any."""
        self.__dict__.pop("llm", None)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


__all__ = [
    "BackendError",
    "BackendUnavailable",
    "VLLMBackend",
    "dequantised_checkpoint",
    "engine_kwargs",
    "eos_token_ids",
    "load_into_engine",
    "sampling_kwargs",
    "to_generation",
    "vllm_weights",
]
