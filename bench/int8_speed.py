"""Would an int8 model build the index faster on this CPU, and at what cost in vector quality?

Measures, on the same length-sorted passages: the configured PyTorch path (fp32, and bf16 where the
CPU has it), PyTorch dynamic int8 (`quantize_dynamic` on the Linear layers), and ONNX Runtime int8
(the materialized model exported locally with `torch.onnx.export`, then `quantize_dynamic` per
channel; no hub). Quality: mean cosine of each path's vectors to the fp32 ones.

Usage: python bench/int8_speed.py [--passages 384] [--batch-size 16]
ONNX Runtime is not a dependency of the app: `pip install onnxruntime onnx` to include it."""

from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from embed_speed import sample_from_args

from index.embedder import load_embedder
from index.textnorm import normalize_text


def timed(encode, texts: list[str], tokens: int, ref: np.ndarray | None, label: str) -> np.ndarray:
    encode(texts[:16])  # warm-up
    t0 = time.perf_counter()
    vecs = encode(texts)
    seconds = time.perf_counter() - t0
    quality = f"cosine to fp32 {float(np.mean(np.sum(vecs * ref, axis=1))):.4f}" if ref is not None else "reference"
    print(f"{label:34}{tokens / seconds:8,.0f} tokens/s ({seconds:.1f}s); {quality}", flush=True)
    return vecs


def onnx_int8(model, folder: Path):
    """An ONNX Runtime int8 encoder for a sentence-transformers model with mean pooling."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    encoder = model[0].auto_model.eval()
    tokenizer = model.tokenizer

    class Hidden(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(["passage: xin chào", "passage: một hai ba"], return_tensors="pt", padding=True)
    fp32, int8 = folder / "model.onnx", folder / "model.int8.onnx"
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(Hidden(encoder), (sample["input_ids"], sample["attention_mask"]), str(fp32), dynamo=False,
                      input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "hidden": axes}, opset_version=17)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])
    prompt = model.prompts.get("document") or model.prompts.get("passage") or ""

    def encode(texts: list[str], batch_size: int = 16) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = tokenizer([prompt + normalize_text(t) for t in texts[i : i + batch_size]], padding=True,
                            truncation=True, max_length=model.max_seq_length, return_tensors="np")
            mask = enc["attention_mask"].astype(np.int64)
            hidden = session.run(None, {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": mask})[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.vstack(out)

    return encode


def main() -> None:
    args, settings, texts, origin = sample_from_args(__doc__, 384)
    texts.sort(key=len, reverse=True)  # as the builder batches them
    emb = load_embedder(settings.with_(precision="fp32").index_config(), lean=False)
    tokens = sum(emb.count_tokens(texts))
    print(f"{len(texts)} passages from {origin}, {tokens} tokens; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, batch {args.batch_size}")
    ref = timed(lambda x: emb.encode_documents(x, batch_size=args.batch_size), texts, tokens, None, "torch fp32")
    auto = load_embedder(settings.with_(precision="auto").index_config(), lean=False)
    if auto.precision != "fp32":
        timed(lambda x: auto.encode_documents(x, batch_size=args.batch_size), texts, tokens, ref,
              f"torch {auto.precision} (the default here)")
    quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(emb.model), {torch.nn.Linear}, dtype=torch.qint8)
    timed(lambda x: quantized.encode_document(x, batch_size=args.batch_size, convert_to_numpy=True,
                                              normalize_embeddings=True), texts, tokens, ref, "torch dynamic int8")
    try:
        import onnx  # noqa: F401 - needed by the exporter and the quantizer
        import onnxruntime  # noqa: F401
    except ImportError:
        print("onnxruntime int8: skipped (pip install onnxruntime onnx)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        encode = onnx_int8(emb.model, Path(tmp))
        for batch in (args.batch_size, 4):
            timed(lambda x, b=batch: encode(x, b), texts, tokens, ref, f"onnxruntime int8, batch {batch}")


if __name__ == "__main__":
    main()
