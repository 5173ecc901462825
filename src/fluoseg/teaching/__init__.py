"""Toy models and demonstrations for the theory chapters (``book/01_theory``).

Everything here is deliberately tiny and exact: ``convolution`` (a convolution computed
window by window, output sizes, pooling, transposed convolution), ``receptive_fields``
(formulas and a measurement), ``activations``, ``gan_losses`` (generator losses and
their gradients), ``toy_data`` (two-dimensional toy data sets) and ``toy_gans`` (three
toy adversarial trainings that run in seconds on a CPU). The pipeline's own code does
not import this package.
"""
