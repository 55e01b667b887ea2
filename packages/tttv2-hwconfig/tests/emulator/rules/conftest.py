import sys
from pathlib import Path

# Case files import the shared helpers as ``rulecase`` whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
