"""Evaluation: scoring segmentations against reference masks.

- ``metrics``: voxel confusion counts, Dice, precision and recall per class.
- ``instances``, ``objects``, ``matching``: objects, object tables and the one
  Hungarian matcher.
- ``pairing``, ``pair_scores``: nucleus-Golgi pairs and their scores.
- ``evaluate``: a trained run on the test crops (``segment_and_score``).
"""
