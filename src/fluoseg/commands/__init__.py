"""One module per ``fluoseg`` sub-command (discovered automatically by ``fluoseg.cli``).

A command module defines ``HELP: str``, ``add_arguments(parser)`` and
``run(args) -> int``; it imports TensorFlow-heavy modules inside ``run`` only.
"""
