"""Training, the one API behind ``fluoseg train``.

- ``plan``: the training-loop settings of a model at a profile (``train_config``).
- ``data``: a run's crops turned into its patch sampler and validation arrays.
- ``trainer``: ``train()``, which trains, resumes or loads a run folder.
- ``fit``: the fit loop; it imports Keras, so it is loaded only when a model is fitted.
- ``checkpoint``, ``callbacks``: atomic per-epoch checkpoints and the Keras callbacks.
- ``isolate``: running a training, or any job, in a child process.
"""
