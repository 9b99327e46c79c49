"""The computations behind the experiments: one module per study, from a config and data to
numbers (and the arrays its figures show).  No flags, no figures: ``experiments/<name>.py``
parses the flags, calls its study and draws with :mod:`gan_jax.viz`, and the import
contracts keep matplotlib out of this package."""

__all__ = [
    "bilinear_game",
    "dirac_gan",
    "figures",
    "game_spectrum",
    "latent_space",
    "mode_collapse",
    "opengan",
    "optimal_discriminator",
    "progressive",
    "semantic_pyramid",
    "stylegan",
    "super_resolution",
]
