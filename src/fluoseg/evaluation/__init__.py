"""Evaluation: scoring segmentations against reference masks."""
