"""Training: loop plans (``plan``) and the trainer behind ``fluoseg train``."""
