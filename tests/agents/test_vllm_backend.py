"""The vllm backend: sampling arguments, vLLM outputs -> Generation, weight sync (LoRA merged), and a GPU run.

vLLM cannot run on a CPU-only machine, so the engine is replaced here by small objects shaped like
vLLM's (`CompletionOutput`, `Logprob`, an `LLM` whose worker's `load_weights` records what it got);
everything else (the Hugging Face models, peft, the backend's own code) is real. The last test runs
the real engine and is skipped without a CUDA GPU and vLLM.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from rlvr.agents.rollout import vllm as vb  # noqa: E402
from rlvr.agents.rollout.base import Generation, RolloutBackend, SamplingParams  # noqa: E402

EOS = 2


# -- vLLM-shaped stand-ins --------------------------------------------------------------------------------


@dataclass
class Logprob:
    """vllm.logprobs.Logprob."""

    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    """vllm.outputs.CompletionOutput (the fields the backend reads)."""

    token_ids: list[int]
    logprobs: list[dict[int, Any]] | None
    finish_reason: str | None
    index: int = 0
    text: str = ""
    cumulative_logprob: float | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


def completion(tokens: list[int], logprobs: list[float], finish_reason: str | None) -> CompletionOutput:
    # logprobs=0 gives the sampled token only; add a decoy to check the sampled one is picked.
    rows = [{t: Logprob(lp, rank=1), t + 100: Logprob(-50.0, rank=2)} for t, lp in zip(tokens, logprobs)]
    return CompletionOutput(list(tokens), rows, finish_reason)


class FakeModel:
    """The worker-side model: `load_weights` records names (vLLM returns the set of loaded params)."""

    def __init__(self, accept: bool = True):
        self.loaded: list[str] = []
        self.calls = 0
        self.accept = accept

    def load_weights(self, weights):
        self.calls += 1
        names = [name for name, _ in weights]
        self.loaded.extend(names)
        return set(names) if self.accept else set()


class FakeLLM:
    """vllm.LLM with an in-process worker: collective_rpc(fn, args) runs fn(worker, *args)."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.model = FakeModel()
        self.worker = types.SimpleNamespace(model_runner=types.SimpleNamespace(model=self.model))
        self.events: list[str] = []
        self.requests: list[tuple[list[Any], list[Any]]] = []

    def collective_rpc(self, method, timeout=None, args=(), kwargs=None):
        self.events.append("rpc")
        return [method(self.worker, *args, **(kwargs or {}))]

    def reset_prefix_cache(self):
        self.events.append("reset_prefix_cache")
        return True

    def get_tokenizer(self):
        return types.SimpleNamespace(eos_token_id=EOS)

    def sleep(self, level=1):
        self.events.append(f"sleep{level}")

    def wake_up(self, tags=None):
        self.events.append("wake_up")

    def generate(self, prompts, sampling_params=None, use_tqdm=True):
        self.events.append("generate")
        self.requests.append((prompts, sampling_params))
        out = []
        for prompt, params in zip(prompts, sampling_params):
            first = prompt["prompt_token_ids"][-1] + 1
            tokens = [first, EOS] if params.kwargs["max_tokens"] >= 2 else [first]
            reason = "stop" if tokens[-1] == EOS else "length"
            out.append(
                RequestOutput(prompt["prompt_token_ids"], [completion(tokens, [-0.5] * len(tokens), reason)])
            )
        return out


class FakeVLLMSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    """A `vllm` module holding the fakes, and a visible "GPU"."""
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeVLLMSamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    return module


def small_config(tie: bool = True):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=48,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=tie,
        eos_token_id=EOS,
        pad_token_id=0,
    )


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory) -> Path:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(small_config())
    model.generation_config.eos_token_id = EOS
    out = tmp_path_factory.mktemp("small") / "model"
    model.save_pretrained(out)
    return out


def lora_model(**lora_kwargs):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_config(small_config(tie=False))
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], **lora_kwargs)
    model = get_peft_model(base, config)
    with torch.no_grad():  # lora_B starts at zero: make the adapters do something
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
            if "modules_to_save" in name:
                param.add_(1.0)
    return model


# -- the module without vLLM ----------------------------------------------------------------------------


def test_module_imports_without_vllm_and_the_constructor_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    module = importlib.reload(vb)
    with pytest.raises(module.BackendUnavailable, match=r'pip install "rlvr\[vllm\]"') as info:
        module.VLLMBackend("/nonexistent", gpu_memory_utilization=0.3, seed=0)
    assert "CUDA GPU" in str(info.value)
    assert isinstance(info.value, vb.RlvrError)


def test_no_gpu_is_a_clear_error(fake_vllm, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(vb.BackendUnavailable, match="CUDA GPU"):
        vb.VLLMBackend("/nonexistent")


# -- (a) sampling and engine arguments ----------------------------------------------------------------


def test_sampling_kwargs_map_ours_onto_vllms():
    kwargs = vb.sampling_kwargs(
        SamplingParams(max_new_tokens=7, temperature=0.7, top_p=0.9, top_k=0), stop_token_ids={5, 2}
    )
    assert kwargs == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": -1,  # vLLM's "off"
        "max_tokens": 7,
        "seed": None,
        "logprobs": 0,  # the sampled token's logprob
        "stop_token_ids": [2, 5],
        "detokenize": False,
    }
    assert vb.sampling_kwargs(SamplingParams(top_k=20))["top_k"] == 20
    assert vb.sampling_kwargs(SamplingParams(temperature=0))["temperature"] == 0


def test_a_seeded_call_gives_each_prompt_its_own_seed():
    # Same seed for every copy of a prompt would make a whole group sample one completion.
    params = SamplingParams(seed=10)
    assert [vb.sampling_kwargs(params, index=i)["seed"] for i in range(3)] == [10, 11, 12]


def test_engine_kwargs_ask_for_processed_logprobs_and_pass_extras_through():
    kwargs = vb.engine_kwargs("/m", gpu_memory_utilization=0.5, seed=3, dtype="float16", enforce_eager=True)
    assert kwargs == {
        "model": "/m",
        "gpu_memory_utilization": 0.5,
        "seed": 3,
        "logprobs_mode": "processed_logprobs",
        "enable_sleep_mode": False,
        "dtype": "float16",
        "enforce_eager": True,
    }
    assert vb.engine_kwargs("/m", logprobs_mode="processed_logprobs")["logprobs_mode"] == "processed_logprobs"
    with pytest.raises(vb.BackendError, match="processed_logprobs"):
        vb.engine_kwargs("/m", logprobs_mode="raw_logprobs")


# -- (b) one vLLM completion -> Generation ---------------------------------------------------------------


def test_eos_stop_keeps_the_eos_and_takes_the_sampled_tokens_logprob():
    g = vb.to_generation(completion([7, 8, EOS], [-0.1, -0.2, -0.3], "stop"), {EOS})
    assert g == Generation([7, 8, EOS], [-0.1, -0.2, -0.3], "stop")


def test_max_tokens_is_length():
    g = vb.to_generation(completion([7, 8, 9], [-0.1, -0.2, -0.3], "length"), {EOS})
    assert (g.token_ids, g.finish_reason, g.truncated) == ([7, 8, 9], "length", True)


def test_an_eos_as_the_last_allowed_token_is_a_stop_even_if_vllm_says_length():
    g = vb.to_generation(completion([7, EOS], [-0.1, -0.2], "length"), {EOS})
    assert (g.token_ids, g.finish_reason) == ([7, EOS], "stop")


def test_tokens_after_the_first_eos_are_dropped_even_when_they_equal_it():
    g = vb.to_generation(completion([7, EOS, EOS, 9], [-0.1, -0.2, -0.3, -0.4], "length"), {EOS})
    assert g == Generation([7, EOS], [-0.1, -0.2], "stop")


def test_a_stop_without_eos_keeps_every_token_and_stays_stop():
    # A stop string (or a stop token outside eos_ids) ended it: the model did stop, nothing to cut.
    g = vb.to_generation(completion([7, 8, 9], [-0.1, -0.2, -0.3], "stop"), {EOS})
    assert (g.token_ids, g.finish_reason) == ([7, 8, 9], "stop")


def test_plain_float_logprob_rows_are_accepted():
    out = CompletionOutput([4, EOS], [{4: -1.5}, {EOS: -0.25}], "stop")
    assert vb.to_generation(out, {EOS}).logprobs == [-1.5, -0.25]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (completion([7], [-0.1], "abort"), "finish_reason='abort'"),
        (completion([7], [-0.1], None), "finish_reason=None"),
        (CompletionOutput([7], None, "length"), "no logprobs"),
        (CompletionOutput([7, 8], [{7: Logprob(-0.1)}], "length"), "1 logprob positions for 2 tokens"),
        (CompletionOutput([7], [{9: Logprob(-0.1)}], "length"), "sampled token 7"),
    ],
)
def test_unusable_outputs_are_errors(output, message):
    with pytest.raises(vb.BackendError, match=message):
        vb.to_generation(output, {EOS})


# -- (c) weights -> (name, tensor) pairs ----------------------------------------------------------------


def test_a_plain_model_gives_its_state_dict():
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(small_config())
    pairs = list(vb.vllm_weights(model))
    expected = model.state_dict()
    assert [name for name, _ in pairs] == list(expected)
    assert all(torch.equal(tensor, expected[name]) for name, tensor in pairs)
    assert "model.layers.0.self_attn.q_proj.weight" in expected


def assert_same_weights(pairs, expected: dict[str, Any]):
    got = dict(pairs)
    assert sorted(got) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.allclose(got[name], tensor, atol=1e-6), name


def assert_computes_like(pairs, peft_model):
    """A plain model holding `pairs` (strict load: every name known, none missing) gives peft's logits."""
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_config(small_config(tie=False))
    plain.load_state_dict(dict(pairs), strict=True)
    ids = torch.tensor([[1, 5, 9, 3, 7, 11]])
    peft_model.eval()
    with torch.no_grad():
        assert torch.allclose(plain(input_ids=ids).logits, peft_model(input_ids=ids).logits, atol=1e-5)


def test_lora_gives_the_merged_models_weights_under_plain_names_and_leaves_the_model_alone():
    model = lora_model(modules_to_save=["lm_head"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    merged = copy.deepcopy(model).merge_and_unload().state_dict()
    pairs = list(vb.vllm_weights(model))
    assert_same_weights(pairs, merged)
    assert_computes_like(pairs, model)
    assert not any(
        "lora_" in n or "base_layer" in n or "base_model" in n or "modules_to_save" in n for n, _ in pairs
    )
    # the delta is real (not just the base weight), and the adapters were not merged into the model
    q_base = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert not torch.allclose(dict(pairs)["model.layers.0.self_attn.q_proj.weight"], q_base)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert not model.base_model.model.model.layers[0].self_attn.q_proj.merged


def test_lora_already_merged_is_not_added_twice():
    model = lora_model()
    merged = copy.deepcopy(model).merge_and_unload().state_dict()
    model.merge_adapter()
    pairs = list(vb.vllm_weights(model))
    assert_same_weights(pairs, merged)
    assert_computes_like(pairs, model)


def test_disabled_adapters_give_the_base_model():
    model = lora_model(modules_to_save=["lm_head"])
    q_base = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight.detach().clone()
    model.merge_adapter()  # a merged delta must come back out too
    with model.disable_adapter():
        pairs = list(vb.vllm_weights(model))
        assert_computes_like(pairs, model)
    assert torch.allclose(dict(pairs)["model.layers.0.self_attn.q_proj.weight"], q_base, atol=1e-6)


def test_dora_is_refused():
    model = lora_model(use_dora=True)
    with pytest.raises(vb.BackendError, match="DoRA"):
        list(vb.vllm_weights(model))


def test_load_into_engine_sends_every_weight_once_in_chunks_then_resets_the_prefix_cache():
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(small_config())
    llm = FakeLLM()
    loaded = vb.load_into_engine(llm, vb.vllm_weights(model), chunk_bytes=4096)
    assert sorted(llm.model.loaded) == sorted(model.state_dict())
    assert loaded == len(model.state_dict())
    assert llm.model.calls > 1  # chunked
    assert llm.events == ["rpc"] * llm.model.calls + ["reset_prefix_cache"]


def test_the_worker_side_loader_finds_the_model_behind_a_wrapper_and_get_model():
    model = FakeModel()
    unwrapped = types.SimpleNamespace(model_runner=types.SimpleNamespace(get_model=lambda: model, model=None))
    wrapper = types.SimpleNamespace(worker=unwrapped)  # a WorkerWrapperBase without attribute forwarding
    assert vb._load_weights_on_worker(wrapper, [("a", torch.zeros(1)), ("b", torch.zeros(1))]) == 2
    assert model.loaded == ["a", "b"]


# -- the backend on the fake engine ---------------------------------------------------------------------


def test_backend_builds_the_engine_generates_and_syncs(fake_vllm, small_model_dir):
    import os

    backend = vb.VLLMBackend(str(small_model_dir), gpu_memory_utilization=0.25, seed=7, max_model_len=128)
    assert isinstance(backend, RolloutBackend) and backend.name == "vllm"
    llm = backend.llm
    assert llm.kwargs == {
        "model": str(small_model_dir),
        "gpu_memory_utilization": 0.25,
        "seed": 7,
        "logprobs_mode": "processed_logprobs",
        "enable_sleep_mode": False,
        "max_model_len": 128,
    }
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert backend.eos_ids == {EOS}

    out = backend.generate([[1, 3], [5]], SamplingParams(max_new_tokens=4, temperature=0.9, seed=4))
    assert out == [Generation([4, EOS], [-0.5, -0.5], "stop"), Generation([6, EOS], [-0.5, -0.5], "stop")]
    prompts, sampling = llm.requests[-1]
    assert prompts == [{"prompt_token_ids": [1, 3]}, {"prompt_token_ids": [5]}]
    assert [s.kwargs["seed"] for s in sampling] == [4, 5]
    assert all(s.kwargs["stop_token_ids"] == [EOS] and s.kwargs["temperature"] == 0.9 for s in sampling)
    assert backend.generate([], SamplingParams()) == []

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(small_model_dir)
    backend.sync_weights(model)
    assert sorted(llm.model.loaded) == sorted(model.state_dict())
    assert llm.events[-1] == "reset_prefix_cache"


def test_sync_that_loads_nothing_is_an_error(fake_vllm, small_model_dir):
    from transformers import AutoModelForCausalLM

    backend = vb.VLLMBackend(str(small_model_dir))
    backend.llm.model.accept = False
    with pytest.raises(vb.BackendError, match="loaded none"):
        backend.sync_weights(AutoModelForCausalLM.from_pretrained(small_model_dir))


def test_sleep_mode_sleeps_after_generate_and_wakes_for_the_next_call(fake_vllm, small_model_dir):
    from transformers import AutoModelForCausalLM

    backend = vb.VLLMBackend(str(small_model_dir), enable_sleep_mode=True)
    llm = backend.llm
    assert llm.kwargs["enable_sleep_mode"] is True
    backend.generate([[1]], SamplingParams(max_new_tokens=2))
    assert llm.events == ["generate", "sleep1"]
    backend.sync_weights(AutoModelForCausalLM.from_pretrained(small_model_dir))
    assert llm.events[2] == "wake_up" and llm.events[-1] == "reset_prefix_cache"
    backend.generate([[1]], SamplingParams(max_new_tokens=2))
    assert llm.events[-2:] == ["generate", "sleep1"] and llm.events.count("wake_up") == 1


def test_eos_ids_come_from_the_generation_config_first(tmp_path, small_model_dir):
    from transformers import GenerationConfig

    assert vb.eos_token_ids(small_model_dir) == {EOS}
    GenerationConfig(eos_token_id=[EOS, 9]).save_pretrained(tmp_path)
    assert vb.eos_token_ids(tmp_path) == {EOS, 9}
    assert vb.eos_token_ids(tmp_path / "none", types.SimpleNamespace(eos_token_id=4)) == {4}
    with pytest.raises(vb.BackendError, match="no EOS"):
        vb.eos_token_ids(tmp_path / "none")


def test_gguf_is_served_from_a_dequantised_checkpoint(fake_vllm, small_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    import rlvr.agents.policy as policy

    calls = []

    def load_model(model_dir, *, gguf_file=None, dtype=None):
        calls.append(("model", str(model_dir), gguf_file))
        return AutoModelForCausalLM.from_pretrained(small_model_dir)

    def load_tokenizer(model_dir, gguf_file=None):
        calls.append(("tokenizer", str(model_dir), gguf_file))
        return types.SimpleNamespace(
            save_pretrained=lambda out: (Path(out) / "tokenizer.json").write_text("{}")
        )

    monkeypatch.setattr(policy, "load_model", load_model)
    monkeypatch.setattr(policy, "load_tokenizer", load_tokenizer)
    backend = vb.VLLMBackend("/gguf-dir", gguf_file="m.Q4.gguf")
    served = Path(backend.llm.kwargs["model"])
    assert calls == [("model", "/gguf-dir", "m.Q4.gguf"), ("tokenizer", "/gguf-dir", "m.Q4.gguf")]
    assert (served / "config.json").exists() and (served / "tokenizer.json").exists()
    assert backend.eos_ids == {EOS}
    backend.close()
    assert not served.exists()


# -- the real engine --------------------------------------------------------------------------------------


def _gpu_and_vllm() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def hf_logprobs(model, prompt: list[int], completion_ids: list[int], temperature: float) -> list[float]:
    ids = torch.tensor([prompt + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    scored = torch.log_softmax(logits[len(prompt) - 1 : -1] / temperature, dim=-1)
    return scored.gather(-1, torch.tensor(completion_ids)[:, None]).squeeze(-1).tolist()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not _gpu_and_vllm(), reason="needs a CUDA GPU and vLLM")
def test_vllm_samples_with_the_trainers_logprobs_and_follows_synced_weights(tmp_path):
    from transformers import AutoModelForCausalLM

    from rlvr.agents.policy import load_tokenizer
    from rlvr.agents.tiny import build_tiny_model, env_corpus

    # Standard head size for vLLM's kernels (ALGORITHMS.md §9); sharpen the tied embeddings so the
    # distribution is far from uniform and a wrong token's logprob could not pass for the right one's.
    model_dir = build_tiny_model(
        tmp_path / "model",
        env_corpus("rlvr/Arithmetic-v0", {"system_prompt": ""}, tasks=200),
        hidden_size=256,
        heads=4,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(10)
    model.save_pretrained(model_dir)
    tokenizer = load_tokenizer(model_dir)
    prompts = [
        tokenizer(t, add_special_tokens=False)["input_ids"]
        for t in ["Compute 1 plus 2.", "Compute 7 minus 3."]
    ]
    batch = [p for p in prompts for _ in range(4)]
    temperature = 0.8
    params = SamplingParams(max_new_tokens=12, temperature=temperature, seed=0)

    backend = vb.VLLMBackend(str(model_dir), dtype="float16", enforce_eager=True, max_model_len=256)

    def check_against(reference) -> list[Generation]:
        generations = backend.generate(batch, params)
        for prompt, g in zip(batch, generations):
            assert len(g.token_ids) == len(g.logprobs) >= 1
            assert (g.finish_reason == "stop") == (g.token_ids[-1] in backend.eos_ids)
            expected = hf_logprobs(reference, prompt, g.token_ids, temperature)
            assert all(math.isclose(a, b, abs_tol=5e-2) for a, b in zip(g.logprobs, expected)), (
                g.logprobs,
                expected,
            )
        return generations

    before = check_against(model)
    greedy_before = backend.generate(prompts, SamplingParams(max_new_tokens=12, temperature=0))

    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.3)
    backend.sync_weights(model)
    after = check_against(model)
    greedy_after = backend.generate(prompts, SamplingParams(max_new_tokens=12, temperature=0))
    assert [g.token_ids for g in before] != [g.token_ids for g in after] or [
        g.token_ids for g in greedy_before
    ] != [g.token_ids for g in greedy_after]
    backend.close()
