"""The design document's ``CausalLM.ImplConfig`` snippet, runnable.

    python examples/impl_config.py CHECKPOINT_DIR [--device N150]

Changes from the seed's text are marked ``# CHANGED:`` with the reason; the ``# CHECK:`` lines are
not in the seed: they make this script a test.
"""

import argparse

import torch
from transformers import LlamaForCausalLM
from tttv2_hwconfig import ttnn
from tttv2_llama3 import ModelFactory
from tttv2_patterns import CausalLM
from tttv2_testing import compute_pcc

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="HF checkpoint folder (config.json + safetensors)")
parser.add_argument("--device", default="N150")
args = parser.parse_args()

# CHANGED (added): the snippet starts from a model_spec; here it comes from the checkpoint.
model_spec = ModelFactory.from_huggingface(args.checkpoint, validate=False)

impl_config = CausalLM.ImplConfig(model_spec, device=args.device)  # CHANGED: "N150" -> --device
impl_config.strategy = "performance"
# CHANGED: the seed's override names no real field (attention has no activation; the FFN's
# activation is math, in the spec). The assignment itself must fail and name the path:
try:
    impl_config.layers[0].attention.activation = "gelu"
    raise AssertionError("an unknown ImplConfig field was accepted")
except ValueError as error:
    assert "layers[0].attention.activation: AttentionImplConfig has no field 'activation'" in str(error), (
        error
    )
    print(f"as written: {error}")
impl_config.layers[0].ffn.gate_proj.dtype = ttnn.bfloat8_b  # CHANGED (added): a real per-layer override

model = CausalLM(
    model_spec, impl_config=impl_config, device=args.device
)  # will generate/load the tensor caches
# CHANGED: `device=` added: CausalLM's default device is "N150"; --device keeps other targets possible.

# CHECK: strategy and override are what the blocks were built with; the model follows HF.
assert model.impl_config.strategy == "performance"
assert model.layers[0].ffn.impl_config.gate_proj.dtype == ttnn.bfloat8_b
assert model.layers[1].ffn.impl_config.gate_proj.dtype == ttnn.bfloat4_b  # the performance default
assert "layers[0].ffn.gate_proj.dtype" in impl_config.overrides()
prompt = [1, 7, 9, 20, 33, 41]
out = model.prefill_forward([prompt])
hf = LlamaForCausalLM.from_pretrained(args.checkpoint, dtype=torch.float32).eval()
with torch.no_grad():
    expected = hf(torch.tensor([prompt])).logits[0, -1]
pcc = compute_pcc(expected, out.logits[0])
assert pcc >= 0.98, pcc  # performance strategy: bfloat4_b gate/up weights (see tttv2_apis.py)
print(f"impl_config.py: OK (strategy {model.impl_config.strategy!r}, logits PCC vs HF {pcc:.4f})")
model.close()
