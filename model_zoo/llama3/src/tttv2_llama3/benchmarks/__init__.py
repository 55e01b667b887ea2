"""Speed measurements of the Llama 3 family (HF reference now; TTTv2 once wired)."""
