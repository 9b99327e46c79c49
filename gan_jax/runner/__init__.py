"""What the training CLIs share (one runner for flags, evaluation and outputs):

* :mod:`~gan_jax.runner.settings`: the runners' own settings (run folder, seed, data,
  writers, devices, evaluation, classifier), declared once (:mod:`gan_jax.configs`);
* :mod:`~gan_jax.runner.image_runs`: the flags every image-GAN CLI takes, the checks a
  command passes before its first write (:func:`~gan_jax.runner.image_runs.plan_run`),
  the evaluation classifier, the fit and the outputs (:func:`~gan_jax.runner.image_runs.run`);
* :mod:`~gan_jax.runner.feature_runs`: what the feature-conditioned CLIs add (the frozen
  feature network of a run);
* :mod:`~gan_jax.runner.dcgan`: the DCGAN command (``python -m experiments.train_dcgan``).

A new model's CLI is its config dataclass (its flags) and a ``build(args, train_set,
mesh)`` returning a :class:`~gan_jax.models.Trainer`, handed to
:func:`~gan_jax.runner.image_runs.run`.
"""

__all__ = ["dcgan", "feature_runs", "image_runs", "settings"]
