"""Every matplotlib figure of the library: ``plotting`` (image grids, curves, the studies'
figures) and ``dynamics`` (trajectories, vector fields and spectra of games).  Nothing
below this package imports it; the fit loop draws through the
:class:`~gan_jax.train.FitFigures` hooks that :class:`plotting.RunFigures` implements."""
