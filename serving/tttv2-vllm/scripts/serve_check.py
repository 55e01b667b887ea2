"""End-to-end check of TTTv2 behind vLLM's OpenAI server: ``python serve_check.py --model <HF folder>``.

1. starts ``python -m vllm.entrypoints.openai.api_server --model <folder>`` (this interpreter; the
   tttv2-vllm platform plugin must be installed) on localhost and waits for ``/health``;
2. sends ``--requests`` concurrent greedy completion requests (mixed prompt lengths and
   ``max_tokens``, so requests join and leave the 32-slot decode batch), with ``return_token_ids``;
3. a streaming request (its chunks must add up to the non-streamed completion) and a request longer
   than the context (a 400 naming the limit), then one more request (the server still serves);
4. stops the server, builds the family's own model in this process and runs its ``generate`` on the
   same prompt token ids at batch 32: every completion must equal it token for token;
5. prints tokens/s of the engine beside ``generate`` at batch 32 (both wall clock, prefill included):
   for the mixed requests (the tokens each asked for; ``generate`` also computes the steps a finished
   row idles through), and for an equal-work batch of 32 requests with one ``max_tokens``, which both
   compute as the same 32 prefills and decode steps: that ratio is the engine's overhead (target <= 20%).

Exit status 0 only when every check passes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in one sentence why the sky is blue.",
    "List three fruits that are red.",
    "How many days are there in a leap year?",
    "Give me a tip for sleeping better.",
    "Translate 'good morning' into Spanish.",
    "What is 12 times 7?",
)
FILLER = " The museum opened its doors early, and visitors walked slowly through the quiet halls."


EQUAL_WORK_TOKENS = 16  # max_tokens of every request of the equal-work batch
OVERHEAD_TARGET = 0.20


def prompt_and_max_tokens(index: int) -> tuple[str, int]:
    """Mixed lengths: 0..19 filler sentences (about 8 to 350 tokens) and 6..22 new tokens."""
    fillers = (index * 7) % 20
    return PROMPTS[index % len(PROMPTS)] + FILLER * fillers, 6 + (index * 5) % 17


def equal_work(index: int) -> tuple[str, int]:
    """The equal-work batch: short mixed prompts (0..3 filler sentences), the same ``max_tokens``."""
    return PROMPTS[index % len(PROMPTS)] + FILLER * (index % 4), EQUAL_WORK_TOKENS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict, timeout: float = 1800.0) -> tuple[int, dict | str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def stream(url: str, body: dict, timeout: float = 1800.0) -> tuple[list[str], list[int]]:
    """Text pieces and token ids of a streamed completion (server-sent events)."""
    request = urllib.request.Request(
        url, data=json.dumps({**body, "stream": True}).encode(), headers={"Content-Type": "application/json"}
    )
    pieces, token_ids = [], []
    with urllib.request.urlopen(request, timeout=timeout) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[len("data: ") :])["choices"][0]
            pieces.append(choice.get("text", ""))
            token_ids.extend(choice.get("token_ids") or [])
    return pieces, token_ids


def start_server(args, port: int, log_path: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(args.model),
        "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(args.max_model_len),
        "--max-num-seqs", "32", "--served-model-name", "model",
    ]  # fmt: skip
    env = {**os.environ, "TTTV2_DEVICE": args.device}
    print(f"[serve] {' '.join(command)}  (TTTV2_DEVICE={args.device}; log {log_path})", flush=True)
    log = log_path.open("w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_healthy(process: subprocess.Popen, base: str, log_path: Path, timeout_s: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        if process.poll() is not None:
            raise SystemExit(
                f"[serve] server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(2)
    raise SystemExit(f"[serve] server not healthy after {timeout_s:.0f} s:\n{log_path.read_text()[-4000:]}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM to the server, which shuts its engine core down
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def run_clients(base: str, count: int, workload=prompt_and_max_tokens) -> tuple[list[dict], float]:
    url = base + "/v1/completions"

    def one(index: int) -> dict:
        prompt, max_tokens = workload(index)
        body = {"model": "model", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0,
                "ignore_eos": True, "return_token_ids": True}  # fmt: skip
        status, reply = post(url, body)
        if status != 200:
            raise SystemExit(f"[serve] request {index} failed with {status}: {reply}")
        choice = reply["choices"][0]
        return {"index": index, "max_tokens": max_tokens, "text": choice["text"],
                "prompt_token_ids": choice["prompt_token_ids"], "token_ids": choice["token_ids"]}  # fmt: skip

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(one, range(count)))
    return results, time.perf_counter() - start


def check_streaming_and_errors(base: str, max_model_len: int) -> list[str]:
    """Streaming equals non-streaming; a too-long prompt is a clear 400; the server keeps serving."""
    failures = []
    url = base + "/v1/completions"
    body = {"model": "model", "prompt": PROMPTS[0], "max_tokens": 12, "temperature": 0.0, "ignore_eos": True,
            "return_token_ids": True}  # fmt: skip
    status, whole = post(url, body)
    pieces, streamed_ids = stream(url, body)
    text = whole["choices"][0]["text"] if status == 200 else None
    ok = status == 200 and "".join(pieces) == text and streamed_ids == whole["choices"][0]["token_ids"]
    print(f"[serve] streaming: {len(pieces)} chunks, text equal to the non-streamed completion: {ok}")
    if not ok:
        failures.append(f"streaming: {pieces!r} vs {text!r}")

    too_long = {
        "model": "model",
        "prompt": FILLER * (max_model_len // 8),
        "max_tokens": 4,
        "temperature": 0.0,
    }
    status, reply = post(url, too_long)
    message = reply if isinstance(reply, str) else json.dumps(reply)
    clear = status == 400 and ("context" in message.lower() or "length" in message.lower())
    print(f"[serve] prompt over the context: HTTP {status}: {message[:300]}")
    if not clear:
        failures.append(
            f"over-long prompt: expected a 400 naming the context length, got {status}: {message[:300]}"
        )
    status, reply = post(url, {**body, "stream": False})
    after = status == 200 and reply["choices"][0]["token_ids"] == whole["choices"][0]["token_ids"]
    print(f"[serve] a request after the error is served: {after}")
    if not after:
        failures.append(f"after the error: {status} {reply}")
    return failures


def family_generate(model, results: list[dict]) -> tuple[dict[int, list[int]], float, int]:
    """Greedy ``generate`` at batch 32 on the requests' prompt ids: (completions, seconds, tokens computed).

    A batch runs for its longest request, so it computes more tokens than its requests asked for.
    """
    expected, seconds, computed = {}, 0.0, 0
    for first in range(0, len(results), 32):
        batch = results[first : first + 32]
        steps = max(r["max_tokens"] for r in batch)
        start = time.perf_counter()
        out = model.generate([r["prompt_token_ids"] for r in batch], max_new_tokens=steps, stop_token_ids=())
        seconds += time.perf_counter() - start
        computed += len(batch) * steps
        for r, ids in zip(batch, out.token_ids):
            expected[r["index"]] = ids[: r["max_tokens"]]
    return expected, seconds, computed


def compare(name: str, results: list[dict], expected: dict[int, list[int]]) -> list[str]:
    """Failures of ``results`` (engine completions) that differ from ``expected`` (generate's)."""
    failures = [
        f"{name} request {r['index']}: engine {r['token_ids']} != generate {expected[r['index']]}"
        for r in results
        if r["token_ids"] != expected[r["index"]]
    ]
    lengths = [len(r["prompt_token_ids"]) for r in results]
    print(f"[serve] {name}: prompts of {min(lengths)}..{max(lengths)} tokens; completions equal to generate: "
          f"{len(results) - len(failures)}/{len(results)}")  # fmt: skip
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="HF checkpoint folder")
    parser.add_argument("--device", default=os.environ.get("TTTV2_DEVICE", "N150"))
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-model-len", type=int, default=512)
    parser.add_argument("--startup-timeout", type=float, default=900.0)
    parser.add_argument("--log", type=Path, default=Path("serve-server.log"))
    args = parser.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = start_server(args, port, args.log)
    try:
        startup_s = wait_healthy(process, base, args.log, args.startup_timeout)
        print(f"[serve] {args.model.name} healthy on {base} after {startup_s:.0f} s", flush=True)
        results, engine_s = run_clients(base, args.requests)
        failures = check_streaming_and_errors(base, args.max_model_len)
        equal, equal_s = run_clients(base, 32, equal_work)
    finally:
        stop_server(process)
    engine_tokens = sum(len(r["token_ids"]) for r in results)
    equal_tokens = sum(len(r["token_ids"]) for r in equal)
    print(f"[serve] engine: {len(results)} concurrent requests, {engine_tokens} tokens in {engine_s:.1f} s; "
          f"equal-work batch: 32 requests, {equal_tokens} tokens in {equal_s:.1f} s", flush=True)  # fmt: skip

    import torch  # noqa: PLC0415
    from tttv2_patterns.family import family_for_checkpoint  # noqa: PLC0415

    torch.set_num_threads(int(os.environ.get("TTTV2_VLLM_THREADS", "1")))  # what the engine's worker uses
    model = family_for_checkpoint(args.model).from_huggingface(
        args.model, device=args.device, max_batch_size=32, max_seq_len=args.max_model_len, progress=False
    )
    try:
        expected, generate_s, computed = family_generate(model, results)
        equal_expected, equal_generate_s, _ = family_generate(model, equal)
    finally:
        model.close()
    failures += compare("mixed requests", results, expected)
    failures += compare("equal-work batch", equal, equal_expected)

    print(f"[serve] throughput (wall clock, prefill included, emulated {args.device}, this CPU):")
    print(f"[serve]   mixed: vLLM engine, {args.requests} concurrent requests: "
          f"{engine_tokens / engine_s:7.2f} tokens/s")  # fmt: skip
    print(f"[serve]   mixed: generate, batch 32 (tokens asked for):     {engine_tokens / generate_s:7.2f} tokens/s "
          f"({computed} computed, {computed / generate_s:.2f}/s)")  # fmt: skip
    engine_rate, generate_rate = equal_tokens / equal_s, equal_tokens / equal_generate_s
    overhead = generate_rate / engine_rate - 1
    print(f"[serve]   equal work: vLLM engine {engine_rate:7.2f} tokens/s, generate {generate_rate:7.2f} "
          f"tokens/s: engine overhead {overhead:+.1%} (target <= {OVERHEAD_TARGET:.0%})")  # fmt: skip
    for failure in failures[:20]:
        print(f"[serve] FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
