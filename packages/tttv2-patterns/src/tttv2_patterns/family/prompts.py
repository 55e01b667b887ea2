"""Everyday prompts for the demo and the accuracy targets (short, varied, answerable by a small model)."""

from __future__ import annotations

EVERYDAY_PROMPTS: tuple[str, ...] = (
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in one sentence why the sky is blue.",
    "List three fruits that are red.",
    "How many days are there in a leap year?",
    "Give me a tip for sleeping better.",
    "Translate 'good morning' into Spanish.",
    "What is 12 times 7?",
)
