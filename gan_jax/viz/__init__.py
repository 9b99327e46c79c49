"""Every matplotlib figure of the library: ``plotting`` (image grids, curves, the studies'
figures), ``dynamics`` (trajectories, vector fields and spectra of games), ``restoration``
(super-resolution), ``feature_gans`` (OpenGAN, Semantic Pyramid) and ``studies`` (the
figures studies return as data).
Nothing below this package imports matplotlib; the fit loop draws through the
:class:`~gan_jax.training.FitFigures` hooks that :class:`plotting.RunFigures` implements."""

__all__ = ["dynamics", "feature_gans", "plotting", "restoration", "studies"]
