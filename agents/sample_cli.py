"""`rlvr sample`, `rlvr eval`, `rlvr filter` and `rlvr reverify`: typer commands, heavy imports inside them."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

HELP = {"help_option_names": ["-h", "--help"]}


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _parse_ks(text: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise typer.BadParameter(
            f"--k {text!r}: pass comma-separated positive integers, e.g. 1,4,16"
        ) from None
    if not ks or ks[0] < 1:
        raise typer.BadParameter(f"--k {text!r}: pass comma-separated positive integers, e.g. 1,4,16")
    return ks


def _yaml(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    import yaml

    value = yaml.safe_load(text)
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} {text!r}: pass a YAML mapping, e.g. '{{difficulty: 2}}'")
    return value


def _token_source(
    model: str,
    gguf_file: str | None,
    backend: str,
    batch_size: int,
    chat: bool,
    env: str | None,
    env_kwargs: dict,
    threads: int | None = None,
) -> Any:
    import torch

    from rlvr.agents.policy import load_model, load_tokenizer
    from rlvr.agents.sample import TokenBackendSource

    if threads:
        torch.set_num_threads(threads)

    name = model
    if model == "tiny":
        from rlvr.agents.tiny import build_tiny_for_env

        model = str(
            build_tiny_for_env(tempfile.mkdtemp(prefix="rlvr-tiny-"), env or "rlvr/Arithmetic-v0", env_kwargs)
        )
    else:
        name = str(Path(model).resolve()) + (f"/{gguf_file}" if gguf_file else "")
    tokenizer = load_tokenizer(model, gguf_file)
    if backend == "vllm":
        from rlvr.agents.rollout.vllm import VLLMBackend

        rollout: Any = VLLMBackend(model, gguf_file=gguf_file)
        context = int(getattr(tokenizer, "model_max_length", 4096) or 4096)
    else:
        from rlvr.agents.rollout.hf import HFBackend

        policy = load_model(model, gguf_file=gguf_file)
        policy.eval()
        rollout = HFBackend(policy, tokenizer, batch_size=batch_size)
        context = int(getattr(policy.config, "max_position_embeddings", 4096))
    use_chat = chat and bool(getattr(tokenizer, "chat_template", None))
    return TokenBackendSource(
        rollout, tokenizer, model=name, chat_template=use_chat, max_context=context, batch_size=batch_size
    )


def sample(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="JSON lines to write (appended to, and resumed).")
    ],
    env: Annotated[str | None, typer.Option(help="An rlvr env id, e.g. rlvr/Arithmetic-v0.")] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(help="JSONL of prompts: prompt|messages + ground_truth (or tests), optional id."),
    ] = None,
    env_kwargs: Annotated[
        str | None, typer.Option(help="Env arguments as YAML, e.g. '{difficulty: 2}'.")
    ] = None,
    num_prompts: Annotated[int, typer.Option(help="Env tasks to sample (seeds seed..seed+N-1).")] = 16,
    n: Annotated[int, typer.Option("--n", help="Completions per prompt.")] = 8,
    seed: Annotated[int, typer.Option(help="Env task seed and sampling seed.")] = 0,
    model: Annotated[
        str | None,
        typer.Option(
            help="HF model dir (hf / vllm backend), 'tiny' (a random offline model), or the served name with --endpoint."
        ),
    ] = None,
    gguf_file: Annotated[str | None, typer.Option(help="GGUF file inside --model.")] = None,
    backend: Annotated[str, typer.Option(help="hf or vllm (with --model DIR).")] = "hf",
    endpoint: Annotated[
        str | None, typer.Option(help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    api: Annotated[str, typer.Option(help="Endpoint API: chat or completions.")] = "chat",
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the endpoint's API key.")
    ] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(help="Endpoint requests in flight.")] = 8,
    retries: Annotated[
        int, typer.Option(help="Retries per endpoint request (connection errors, 429, 5xx).")
    ] = 3,
    timeout: Annotated[float, typer.Option(help="Seconds per endpoint request.")] = 120.0,
    max_n: Annotated[int, typer.Option(help="Completions asked per endpoint request (n).")] = 8,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0: greedy).")] = 1.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Top-k sampling (0: off).")] = 0,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per completion at most.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Rows per generate call (hf).")] = 32,
    threads: Annotated[
        int | None, typer.Option(help="torch threads (hf); 1 is often fastest on a few busy cores.")
    ] = None,
    chat: Annotated[
        bool, typer.Option("--chat/--no-chat", help="Prompts through the chat template / chat API.")
    ] = True,
    verifier: Annotated[
        str | None,
        typer.Option(help="Where to verify: omitted = in process; grpc://host:port = a running rlvr serve."),
    ] = None,
    reward_spec: Annotated[
        str | None, typer.Option(help="Reward spec (name, file or YAML) instead of the env's.")
    ] = None,
    logprobs: Annotated[
        bool, typer.Option("--logprobs/--no-logprobs", help="Store sampler logprobs.")
    ] = True,
    evaluate: Annotated[
        bool, typer.Option("--eval", help="Print the eval table of the whole file at the end.")
    ] = False,
    k: Annotated[str, typer.Option("--k", help="k values for --eval.")] = "1,4,8",
    keep: Annotated[
        str | None, typer.Option(help="Also write filtered training rows: r1, kimi or dpo.")
    ] = None,
    keep_output: Annotated[
        Path | None, typer.Option(help="Where --keep writes (default OUTPUT.<style>.jsonl).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")
    ] = True,
) -> None:
    """Sample N completions per prompt, verify each prompt's group as it completes, append JSON lines.

    Rerunning the same command resumes: samples already in --output are kept and not redrawn.
    Example: rlvr sample --env rlvr/Arithmetic-v0 --model DIR --gguf-file F.gguf --n 8 -o s.jsonl --eval
    """
    from rlvr.agents.rollout.base import SamplingParams
    from rlvr.agents.sample import (
        EndpointSource,
        SampleFile,
        api_key_from_env,
        env_prompts,
        jsonl_prompts,
        run_sampling,
        sampling_settings,
    )
    from rlvr.envs.client import make_verifier
    from rlvr.errors import RlvrError

    if (env is None) == (prompts is None):
        raise typer.BadParameter("pass exactly one of --env ID or --prompts FILE")
    if (endpoint is None) == (model is None) and endpoint is None:
        raise typer.BadParameter(
            "pass --model DIR (hf / vllm) or --endpoint URL (an OpenAI-compatible server)"
        )
    if n < 1:
        raise typer.BadParameter(f"--n {n}: pass at least 1")
    if keep is not None and keep not in ("r1", "kimi", "dpo"):
        raise typer.BadParameter(f"--keep {keep!r}: pass r1, kimi or dpo")
    kwargs = _yaml(env_kwargs, "--env-kwargs")
    try:
        params = SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k
        )
        if chat and env is not None and not (endpoint is not None and api == "completions"):
            kwargs.setdefault("observation", "chat")  # messages, for the chat template or chat API
        if env is not None:
            prompt_list = env_prompts(env, num_prompts, seed=seed, env_kwargs=kwargs, reward_spec=reward_spec)
            source_name = env
        else:
            assert prompts is not None
            prompt_list, problems = jsonl_prompts(prompts, reward_spec=reward_spec)
            for problem in problems:
                typer.echo(f"warning: {problem} (skipped)", err=True)
            source_name = str(prompts)
        if endpoint is not None:
            from rlvr.agents.rollout.openai import OpenAIBackend

            backend_obj = OpenAIBackend(
                endpoint,
                model=model,
                api=api,  # type: ignore[arg-type]
                api_key=api_key_from_env(api_key_env),
                concurrency=concurrency,
                timeout=timeout,
                retries=retries,
                logprobs=logprobs,
            )
            source: Any = EndpointSource(backend_obj, max_n=max_n)
        else:
            assert model is not None
            if backend not in ("hf", "vllm"):
                raise typer.BadParameter(f"--backend {backend!r}: pass hf or vllm (or --endpoint URL)")
            source = _token_source(model, gguf_file, backend, batch_size, chat, env, kwargs, threads)
        run = {
            "source": source_name,
            "env_kwargs": json.loads(json.dumps(kwargs, default=str)) if env is not None else None,
            "model": source.model,
            "backend": source.name,
            "sampling": sampling_settings(params, n=n, seed=seed),
        }
        out = SampleFile(output)
        if out.cut_bytes:
            typer.echo(
                f"warning: {output}: cut a torn last line ({out.cut_bytes} bytes) left by an interrupted run",
                err=True,
            )
        for problem in out.problems:
            typer.echo(f"warning: {problem}", err=True)
        total = len(prompt_list) * n - sum(
            1 for p in prompt_list for i in range(n) if (p.index, i) in out.done
        )
        from tqdm import tqdm

        bar = tqdm(total=total, desc="sampling", unit="sample", disable=not progress, file=sys.stderr)
        try:
            stats = run_sampling(
                prompt_list,
                source,
                make_verifier(verifier),
                out,
                n=n,
                params=params,
                run=run,
                seed=seed,
                with_logprobs=logprobs,
                on_progress=bar.update,
            )
        finally:
            bar.close()
            out.close()
    except KeyboardInterrupt:
        typer.echo(
            f"\ninterrupted: what was verified is in {output}; rerun the same command to continue", err=True
        )
        sys.exit(130)
    except (RlvrError, ValueError, OSError) as exc:
        if isinstance(exc, typer.BadParameter):
            raise
        _fail(str(exc))
        return
    typer.echo(
        f"wrote {stats.written} samples to {output} ({stats.skipped} already there, {stats.failed} failed) "
        f"in {stats.seconds:.1f} s: {stats.samples_per_second:.2f} samples/s",
        err=True,
    )
    for message in stats.errors:
        typer.echo(f"failed: {message}", err=True)
    if evaluate:
        eval_command(output, k=k)
    if keep is not None:
        filter_command(output, style=keep, output=keep_output or output.with_suffix(f".{keep}.jsonl"))
    if stats.failed:
        typer.echo(
            f"{stats.failed} samples failed and were not written; rerun the same command to retry them",
            err=True,
        )
        raise typer.Exit(1)


def eval_command(
    source: Annotated[Path, typer.Argument(help="JSON lines written by rlvr sample.")],
    k: Annotated[str, typer.Option("--k", help="Comma-separated k values.")] = "1,4,8",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of pass@k against k here.")] = None,
    maj: Annotated[
        bool, typer.Option("--maj/--no-maj", help="Compute maj@k (math-verified samples).")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of maj@k's random subsets (when there are too many).")] = 0,
) -> None:
    """pass@k (unbiased), maj@k (verifier-equivalent answers, tie credit), best-of-N, rewards, lengths,
    statuses (TIMEOUT/ERROR apart), overall and per env and difficulty.

    Example: rlvr eval samples.jsonl --k 1,4 --json
    """
    from rlvr.agents.evaluation import evaluate, format_table, plot_pass_at_k, read_records

    ks = _parse_ks(k)
    if not source.exists():
        _fail(f"{source} does not exist")
    records, problems = read_records(source)
    for problem in problems:
        typer.echo(f"warning: {problem} (skipped)", err=True)
    if not records:
        _fail(f"{source} holds no sample records")
    report = evaluate(records, ks, maj=maj, seed=seed)
    report["errors"] = problems + report["errors"]
    if plot is not None:
        plot_pass_at_k(report, plot)
        report["plot"] = str(plot)
    if as_json:
        report.pop("records", None)
        typer.echo(json.dumps(report, default=_json_default))
    else:
        typer.echo(format_table(report))
        if plot is not None:
            typer.echo(f"plot: {plot}")


def _json_default(value: Any) -> Any:
    return None if value != value else str(value)


def filter_command(
    source: Annotated[Path, typer.Argument(help="JSON lines written by rlvr sample.")],
    style: Annotated[
        str, typer.Option(help="r1 (verified, clean, dedup), kimi (shortest correct) or dpo (pairs).")
    ] = "r1",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Training rows (JSONL); default stdout.")
    ] = None,
    max_per_prompt: Annotated[int, typer.Option(help="r1: rows per prompt at most.")] = 4,
    format_check: Annotated[
        str, typer.Option("--format", help="r1: auto (stored format term), none, or a format template name.")
    ] = "auto",
    language: Annotated[str, typer.Option(help="r1: the chain of thought's language.")] = "en",
    min_language: Annotated[
        float, typer.Option(help="r1: least language-consistency share (0: off).")
    ] = 0.95,
    max_paragraph_chars: Annotated[
        int, typer.Option(help="r1: drop samples with a longer paragraph.")
    ] = 2000,
    length_ratio: Annotated[
        float, typer.Option(help="dpo: a correct sample this many times longer may be rejected.")
    ] = 1.5,
    pairs_per_prompt: Annotated[int, typer.Option(help="dpo: pairs per prompt at most.")] = 1,
    metadata: Annotated[
        bool, typer.Option("--metadata/--no-metadata", help="Add a metadata column.")
    ] = False,
) -> None:
    """Rejection sampling to SFT / DPO data in TRL's conversational formats (prompt/completion, prompt/chosen/rejected)."""
    from rlvr.agents.evaluation import read_records
    from rlvr.agents.filters import FilterConfig, filter_records

    if style not in ("r1", "kimi", "dpo"):
        raise typer.BadParameter(f"--style {style!r}: pass r1, kimi or dpo")
    records, problems = read_records(source)
    for problem in problems:
        typer.echo(f"warning: {problem} (skipped)", err=True)
    config = FilterConfig(
        max_per_prompt=max_per_prompt,
        format=format_check,
        language=language,
        min_language=min_language,
        max_paragraph_chars=max_paragraph_chars,
        length_ratio=length_ratio,
        pairs_per_prompt=pairs_per_prompt,
        with_metadata=metadata,
    )
    rows, report = filter_records(records, style, config)  # type: ignore[arg-type]
    sink = sys.stdout if output is None else output.open("w", encoding="utf-8")
    try:
        for row in rows:
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if sink is not sys.stdout:
            sink.close()
    dropped = ", ".join(f"{reason} {count}" for reason, count in sorted((report.dropped or {}).items()))
    where = f" to {output}" if output is not None else ""
    typer.echo(
        f"{style}: {report.rows} rows from {len(records)} samples of {report.prompts} prompts{where}"
        + (f"; dropped: {dropped}" if dropped else ""),
        err=True,
    )


def reverify(
    source: Annotated[
        Path, typer.Argument(help="Sample records (rlvr sample) or rollouts with ground_truth.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the re-scored records here.")
    ] = None,
    reward_spec: Annotated[
        str | None, typer.Option(help="Score with this spec (name, file or YAML) instead.")
    ] = None,
    verifier: Annotated[
        str | None, typer.Option(help="grpc://host:port of a running rlvr serve (default: in process).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the change report as JSON.")] = False,
) -> None:
    """Re-score stored samples with the current verifiers (or --reward-spec) and report what changed, by verifier version."""
    from rlvr.agents.evaluation import read_records
    from rlvr.agents.reverify import format_change_report, reverify_records
    from rlvr.envs.client import make_verifier
    from rlvr.envs.rewards import resolve_spec

    records, problems = read_records(source)
    for problem in problems:
        typer.echo(f"warning: {problem} (skipped)", err=True)
    if not records:
        _fail(f"{source} holds no sample records")
    spec = resolve_spec(reward_spec) if reward_spec else None
    client = make_verifier(verifier)
    rescored, report = reverify_records(records, verify_batch=client.verify_batch, spec=spec)
    report["errors"] = problems
    if output is not None:
        with output.open("w", encoding="utf-8") as sink:
            for record in rescored:
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    if as_json:
        typer.echo(json.dumps(report, default=_json_default))
    else:
        typer.echo(format_change_report(report))


def register(app: typer.Typer) -> None:
    """Add the commands to the `rlvr` app."""
    app.command("sample", context_settings=HELP)(sample)
    app.command("eval", context_settings=HELP)(eval_command)
    app.command("filter", context_settings=HELP)(filter_command)
    app.command("reverify", context_settings=HELP)(reverify)
