"""The design document's "Code Example for use of TTTv2 APIs" (ModelSpec + ImplConfig), runnable.

    python examples/tttv2_apis.py CHECKPOINT_DIR [--device N150]

Changes from the seed's text are marked ``# CHANGED:`` with the reason; the ``# CHECK:`` lines are
not in the seed: they make this script a test (against HF transformers on the same checkpoint).
"""

import argparse

# ModelSpec + ImplConfig (no external adapters)
# CHANGED: the imports name the TTTv2 packages: `tt_transformers_v2.building_blocks` -> tttv2_blocks,
# `tt_transformers_v2.patterns` -> tttv2_patterns, `.models` -> the llama3 model-zoo family.
from tttv2_blocks import AttentionSpec
from tttv2_llama3 import ModelFactory
from tttv2_patterns import CausalLM

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="HF checkpoint folder (config.json + safetensors)")
parser.add_argument("--device", default="N150")
args = parser.parse_args()

# 1) Specify model parameters
# Let's say the new model is similar to Llama-3-8b; we could first load the model spec from HuggingFace and then apply patches to the model spec for the new model; Once our tests are passing, we can refactor this piece of code.
# CHANGED: "path/to/new/model/safetensors" -> the checkpoint folder given on the command line (its
# config.json is the one read: there is no hub to fetch Llama-3-8b's from).
model_spec = ModelFactory.from_huggingface(
    "meta-llama/Llama-3-8b", checkpoint_path=args.checkpoint, validate=False
)
loaded = model_spec.layers[0].attention  # CHANGED (added): the numbers of the checkpoint at hand

# CHECK: the seed's patch as written (hidden_dim and num_heads only: an MHA spec) does not fit a GQA
# checkpoint, and validate() says which tensor and which shapes.
mha_only = AttentionSpec(hidden_dim=loaded.hidden_dim, num_heads=loaded.num_heads)
saved = [layer_spec.attention for layer_spec in model_spec.layers]
for layer_spec in model_spec.layers:
    layer_spec.attention = mha_only
try:
    model_spec.validate()
    raise AssertionError("validate() accepted an MHA attention spec for a GQA checkpoint")
except ValueError as error:
    assert "k_proj.weight has shape" in str(error), error
    print(f"validate() on the unfinished patch: {error}")
for layer_spec, attention in zip(model_spec.layers, saved):
    layer_spec.attention = attention

attn_spec = AttentionSpec(
    # just an example -- not aiming for completeness
    hidden_dim=loaded.hidden_dim,  # CHANGED: 4096 -> the checkpoint's (a tiny one in CI)
    num_heads=loaded.num_heads,  # CHANGED: 32 -> the checkpoint's
    num_kv_heads=loaded.num_kv_heads,  # CHANGED (added): GQA, as the checkpoint's k/v projections are
    rope=loaded.rope,  # CHANGED (added): the RoPE of the checkpoint (theta, scaling)
)
for layer_spec in model_spec.layers:
    # CHANGED: `layer_spec.attention.model_spec = attn_spec` -> the layer's attention IS its spec.
    layer_spec.attention = attn_spec
    # CHANGED: `layer_spec.attention.load_checkpoint()` removed: the checkpoint is attached to
    # model_spec (lazily); validate() checks its tensors and CausalLM(...) loads them.
model_spec.validate()  # checks loaded tensor shapes against specficified shapes

# Make model with default implementation config used under the hood
model = CausalLM(model_spec, device=args.device)  # CHANGED: "N150" -> --device (default N150)

# Overriding the default implementation config
# model spec and implementation config are designed to have the same architecture and the same names for the composing module instances. Thus, we can use the same attribute chain to narrow both `model_spec` and `model.impl_config` down to the same module instance.
import torch  # noqa: E402
from tttv2_hwconfig import ttnn  # noqa: E402  CHANGED: `import ttnn` -> the real ttnn, or its host emulator

model.impl_config.layers[0].attention.qkv_proj.dtype = ttnn.bfloat16

# By default, model will implement Prefill/Decode specialization
prompt_ids = ttnn.from_torch(
    torch.tensor([1, 2, 3, 4])
)  # TTTv2 could provide an API to help construct input tensor to `model`
prefill_out = model.prefill_forward(prompt_ids)  # applies the override above (rebuilds layers[0].attention)
next_token_out = model.decode_forward(prefill_out, cache_position=4)

# CHECK: the override is in effect, and the logits follow HF transformers on the same checkpoint.
from transformers import LlamaForCausalLM  # noqa: E402
from tttv2_testing import compute_pcc  # noqa: E402

assert model.layers[0].attention.impl_config.qkv_proj.dtype == ttnn.bfloat16
assert model.layers[1].attention.impl_config.qkv_proj.dtype != ttnn.bfloat16  # only layer 0 changed
hf = LlamaForCausalLM.from_pretrained(args.checkpoint, dtype=torch.float32).eval()
with torch.no_grad():
    fed = torch.tensor([[1, 2, 3, 4, int(prefill_out.next_tokens[0])]])
    expected = hf(fed).logits[0]
# 0.98: the default ("performance") strategy keeps FFN gate/up weights in bfloat4_b (PCC ~0.98-0.99
# against float32 on random weights); a wrong position, cache slot or weight falls far below.
prefill_pcc = compute_pcc(expected[3], prefill_out.logits[0])
decode_pcc = compute_pcc(expected[4], next_token_out.logits[0])
assert prefill_pcc >= 0.98 and decode_pcc >= 0.98, (prefill_pcc, decode_pcc)
assert next_token_out.positions == [5]
print(f"tttv2_apis.py: OK (logits PCC vs HF: prefill {prefill_pcc:.4f}, decode {decode_pcc:.4f})")
model.close()
