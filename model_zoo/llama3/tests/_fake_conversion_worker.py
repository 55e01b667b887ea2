"""Run ``ensure_smollm2_checkpoint`` with the GGUF conversion replaced by a copy of a tiny checkpoint.

Used by test_smollm2_cache.py to start concurrent processes:
    python _fake_conversion_worker.py TEMPLATE_DIR CACHE_DIR BUILD_LOG WORKERS
Each real build appends a line to BUILD_LOG; the returned folder is printed. The workers wait for
each other after their (slow) imports so that their calls really overlap.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import tttv2_llama3.smollm2 as smollm2

template, cache_dir, build_log = (Path(arg) for arg in sys.argv[1:4])
workers = int(sys.argv[4])


def fake_convert(gguf_path: Path, out_dir: Path) -> None:
    with open(build_log, "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(1.0)  # hold the build open so the other process arrives while it runs
    for path in template.iterdir():
        shutil.copy(path, out_dir / path.name)


smollm2.convert_gguf_to_hf = fake_convert
smollm2.find_smollm2_gguf = lambda **_: (
    template / "model.safetensors"
)  # any existing file stands in for the GGUF
smollm2._installed_version = lambda: "0.1.2"
barrier = build_log.parent / "ready"
barrier.mkdir(exist_ok=True)
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 60
while len(list(barrier.iterdir())) < workers and time.monotonic() < deadline:
    time.sleep(0.01)
print(smollm2.ensure_smollm2_checkpoint(cache_dir))
