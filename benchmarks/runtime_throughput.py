"""Throughput of the local SmolLM2 backend: batched decoding against one request at a time.

Runs the same short classification prompts through ``SmolLM2Backend.generate`` with 1, 2, 4, 8, 16 and
32 sequences decoded together, and through ``Llama.create_chat_completion`` one prompt at a time (the
baseline), all in one process at temperature 0. Prints a table of generated tokens per second with the
ratio to the baseline, and writes ``benchmarks/results/runtime_throughput.json`` and a plot,
``benchmarks/results/runtime_throughput.png``.

Other work on the machine slows llama.cpp's threads a lot, so the modes are run in interleaved rounds
and the fastest round of each is reported (all rounds and the load average are kept in the JSON).

Run it from the repository root (about four minutes on two otherwise idle cores)::

    .venv/bin/python benchmarks/runtime_throughput.py
    .venv/bin/python benchmarks/runtime_throughput.py --prompts 16 --max-tokens 32 --sizes 1 4 16
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time
from dataclasses import asdict, dataclass

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from vertex_batch.local.backends.base import ChatPrompt  # noqa: E402
from vertex_batch.local.backends.smollm2 import SmolLM2Backend  # noqa: E402

SYSTEM = "Classify the sentiment of the review as positive, negative or neutral, then give a short reason."
REVIEWS = (
    "I loved it, the best purchase I ever made.",
    "Broke after two days. Waste of money.",
    "It arrived on time and works as described.",
    "Absolutely fantastic service, I will come back!",
    "The food was cold and the waiter was rude.",
    "Decent product for the price, nothing special.",
    "My kids adore this game, hours of fun.",
    "Terrible battery life, I regret buying it.",
    "The hotel room was clean and quiet.",
    "Customer support never answered my emails.",
    "Great sound quality and easy to set up.",
    "The package was damaged and items were missing.",
    "It is okay. Does the job.",
    "Beautiful design, feels premium in the hand.",
    "Way too expensive for what you get.",
    "Fast shipping, friendly seller, five stars.",
)


@dataclass
class Measurement:
    """One run over all prompts."""

    mode: str
    batch_size: int
    seconds: float
    prompt_tokens: int
    output_tokens: int
    tokens_per_s: float
    ratio_to_one_at_a_time: float | None = None


def make_prompts(n: int, max_tokens: int) -> list[ChatPrompt]:
    """``n`` short classification prompts (the reviews repeat with a numbered suffix)."""
    return [
        ChatPrompt(
            messages=(
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"Review #{i + 1}: {REVIEWS[i % len(REVIEWS)]}"},
            ),
            temperature=0.0,
            max_tokens=max_tokens,
        )
        for i in range(n)
    ]


def one_at_a_time(backend: SmolLM2Backend, prompts: list[ChatPrompt]) -> Measurement:
    """The baseline: ``create_chat_completion`` for each prompt in turn, on the same model."""
    llama = backend.llama
    start = time.perf_counter()
    prompt_tokens = output_tokens = 0
    for prompt in prompts:
        result = llama.create_chat_completion(
            messages=list(prompt.messages),  # type: ignore[arg-type]
            max_tokens=prompt.max_tokens,
            temperature=0.0,
            top_p=prompt.top_p,
            seed=0,
        )
        prompt_tokens += result["usage"]["prompt_tokens"]  # type: ignore[index]
        output_tokens += result["usage"]["completion_tokens"]  # type: ignore[index]
    seconds = time.perf_counter() - start
    return Measurement("one_at_a_time", 1, seconds, prompt_tokens, output_tokens, output_tokens / seconds)


def batched(batch_size: int, prompts: list[ChatPrompt], n_ctx: int) -> Measurement:
    """``SmolLM2Backend.generate`` over all prompts with ``batch_size`` sequences decoded together."""
    with SmolLM2Backend(n_ctx=n_ctx, max_batch=batch_size) as backend:
        backend.generate(prompts[:1])  # warm-up: first-use allocations
        start = time.perf_counter()
        answers = backend.generate(prompts)
        seconds = time.perf_counter() - start
    output_tokens = sum(a.output_tokens for a in answers)
    prompt_tokens = sum(a.prompt_tokens for a in answers)
    return Measurement("batched", batch_size, seconds, prompt_tokens, output_tokens, output_tokens / seconds)


def plot(measurements: list[Measurement], baseline: Measurement, path: pathlib.Path) -> None:
    """Tokens/s against batch size, with the one-at-a-time baseline as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [m.batch_size for m in measurements]
    rates = [m.tokens_per_s for m in measurements]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.plot(sizes, rates, marker="o", label="SmolLM2Backend.generate (llama_batch)")
    for size, rate in zip(sizes, rates, strict=True):
        axes.annotate(f"{rate:.0f}", (size, rate), textcoords="offset points", xytext=(0, 7), ha="center")
    axes.axhline(baseline.tokens_per_s, color="grey", linestyle="--", label="create_chat_completion, one at a time")
    axes.set_xscale("log", base=2)
    axes.set_xticks(sizes, [str(s) for s in sizes])
    axes.set_ylim(0, max(*rates, baseline.tokens_per_s) * 1.2)
    axes.set_xlabel("sequences decoded together (max_batch)")
    axes.set_ylabel("generated tokens / s")
    axes.set_title(f"SmolLM2-135M-Instruct Q8_0, {os.cpu_count()} CPU cores, {baseline.output_tokens} tokens")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def best(runs: list[Measurement]) -> Measurement:
    """The fastest of several runs of one mode: the least disturbed by other work on the machine."""
    return max(runs, key=lambda m: m.tokens_per_s)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="number of prompts (default 32)")
    parser.add_argument("--max-tokens", type=int, default=48, help="max_tokens per prompt (default 48)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the best counts")
    parser.add_argument("--n-ctx", type=int, default=1024, help="context of one sequence")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)

    import llama_cpp

    prompts = make_prompts(args.prompts, args.max_tokens)
    load_before = os.getloadavg()
    runs: dict[int, list[Measurement]] = {0: []} | {size: [] for size in args.sizes}  # 0: one at a time
    with SmolLM2Backend(n_ctx=args.n_ctx, max_batch=1) as reference:
        one_at_a_time(reference, prompts[:1])  # warm-up
        for round_ in range(args.rounds):
            runs[0].append(one_at_a_time(reference, prompts))
            print(f"round {round_ + 1}: one at a time {runs[0][-1].tokens_per_s:.1f} tok/s", flush=True)
            for size in args.sizes:
                runs[size].append(batched(size, prompts, args.n_ctx))
                print(f"round {round_ + 1}: batch {size} {runs[size][-1].tokens_per_s:.1f} tok/s", flush=True)
    load_after = os.getloadavg()
    baseline = best(runs[0])
    measurements = [best(runs[size]) for size in args.sizes]
    for m in measurements:
        m.ratio_to_one_at_a_time = m.tokens_per_s / baseline.tokens_per_s

    print(
        f"\n{len(prompts)} prompts, max_tokens={args.max_tokens}, temperature 0, {os.cpu_count()} CPUs, "
        f"best of {args.rounds} rounds, load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    print(f"{'mode':<15}{'batch':>6}{'seconds':>9}{'out tokens':>12}{'tok/s':>8}{'ratio':>7}")
    for m in [baseline, *measurements]:
        ratio = m.ratio_to_one_at_a_time or 1.0
        print(f"{m.mode:<15}{m.batch_size:>6}{m.seconds:>9.1f}{m.output_tokens:>12}{m.tokens_per_s:>8.1f}{ratio:>7.2f}")

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "model": SmolLM2Backend.model_version,
        "llama_cpp_python": llama_cpp.__version__,
        "python": platform.python_version(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        },
        "settings": {
            "prompts": len(prompts),
            "max_tokens": args.max_tokens,
            "temperature": 0.0,
            "n_ctx": args.n_ctx,
            "rounds": args.rounds,
            "reported": "the fastest round of each mode",
        },
        "one_at_a_time": asdict(baseline),
        "batched": [asdict(m) for m in measurements],
        "all_rounds": {
            ("one_at_a_time" if size == 0 else f"batch_{size}"): [round(m.tokens_per_s, 2) for m in ms]
            for size, ms in runs.items()
        },
    }
    (args.out / "runtime_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(measurements, baseline, args.out / "runtime_throughput.png")
    print(f"wrote {args.out / 'runtime_throughput.json'} and {args.out / 'runtime_throughput.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
