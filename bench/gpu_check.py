"""The GPU path in one short run, for when a device is lent: build-time encoding speed (tokens/s)
on CUDA in fp16 with large batches against the CPU path as configured, and how close their vectors
are (cosine per passage), then one line the README can quote. Claims nothing it did not measure:
without CUDA it prints the CPU figure and says the GPU was not measured.

Usage: python bench/gpu_check.py [--passages 2000] [--cpu-passages 300] [--data …baomoi-35k.jsonl.gz]
Meant to finish in under 5 minutes on a GPU machine (the CPU side is timed on a smaller sample)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from embed_speed import DEFAULT_DATA, passages

from assistant.settings import Settings
from index.embedder import load_embedder


def timed_encode(embedder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    embedder.encode_documents(texts[: min(len(texts), batch_size)], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    vectors = embedder.encode_documents(texts, batch_size=batch_size)
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=2000, help="passages encoded on the GPU")
    ap.add_argument("--cpu-passages", type=int, default=300, help="of those, encoded on the CPU too")
    ap.add_argument("--gpu-batch", type=int, default=256)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    import torch

    settings = Settings.from_env()
    texts, origin = passages(args.passages, args.data, settings.chunk_size)
    cpu = load_embedder(settings.with_(device="cpu").index_config())
    tokens = cpu.count_tokens(texts)  # as the model reads them (truncated at its maximum length)
    sample = texts[: args.cpu_passages]
    cpu_vectors, cpu_seconds = timed_encode(cpu, sample, cpu.batch_size(settings.batch_size))
    cpu_rate = sum(tokens[: len(sample)]) / cpu_seconds
    print(f"passages from {origin}; {len(texts)} passages, {sum(tokens)} tokens")
    print(f"CPU {cpu.precision}, torch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"{cpu_rate:,.0f} tokens/s ({len(sample)} passages in {cpu_seconds:.1f} s)")
    if not torch.cuda.is_available():
        print(f"GPU: not measured (no CUDA device). README line: CPU {cpu.precision} {cpu_rate:,.0f} tokens/s; "
              "GPU not measured.")
        return
    gpu = load_embedder(settings.with_(device="cuda", precision="fp16").index_config())
    gpu_vectors, gpu_seconds = timed_encode(gpu, texts, args.gpu_batch)
    torch.cuda.synchronize()
    gpu_rate = sum(tokens) / gpu_seconds
    cos = np.sum(gpu_vectors[: len(sample)] * cpu_vectors, axis=1) / (
        np.linalg.norm(gpu_vectors[: len(sample)], axis=1) * np.linalg.norm(cpu_vectors, axis=1))
    name = torch.cuda.get_device_name(0)
    print(f"GPU {name} fp16, batch {args.gpu_batch}: {gpu_rate:,.0f} tokens/s ({len(texts)} passages in "
          f"{gpu_seconds:.1f} s); cosine to the CPU vectors: mean {cos.mean():.5f}, min {cos.min():.5f}")
    print(f"README line: {name} fp16 {gpu_rate:,.0f} tokens/s vs CPU {cpu.precision} {cpu_rate:,.0f} tokens/s "
          f"({gpu_rate / cpu_rate:.0f}x), vector cosine mean {cos.mean():.4f} / min {cos.min():.4f} "
          f"(python bench/gpu_check.py)")


if __name__ == "__main__":
    main()
