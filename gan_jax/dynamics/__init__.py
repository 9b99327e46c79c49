"""Two-player game dynamics: the game abstraction, update rules, toy games and analysis,
and the discretisation drift of the update rules (:mod:`gan_jax.dynamics.drift`).

The same :class:`Game` and schemes drive the 2-scalar bilinear game, Dirac-GAN, MLP GANs on
2-D mixtures and the image GANs.
"""

from gan_jax.dynamics import theory
from gan_jax.dynamics.analysis import (
    eigenvalues,
    flow_jacobian,
    spectral_radius,
    state_jacobian,
    update_jacobian,
)
from gan_jax.dynamics.drift import (
    Drift,
    drift_coefficients,
    drift_regularized,
    drift_terms,
    modified_field,
    modified_flow,
)
from gan_jax.dynamics.game import Game, GameState, fold_batch
from gan_jax.dynamics.rollout import (
    Trajectory,
    continue_rollout,
    kept_steps,
    rollout,
    scheme_step,
)
from gan_jax.dynamics.schemes import (
    alternating,
    apply_update,
    clip_parameters,
    consensus,
    extragradient,
    optimistic,
    simultaneous,
)
from gan_jax.dynamics.spectrum import (
    end_dip,
    field_norms,
    game_eigenvalues,
    hessian_eigenvalues,
    path_angle,
)
from gan_jax.dynamics.toy_games import bilinear, dirac_gan

__all__ = [
    "Drift",
    "Game",
    "GameState",
    "Trajectory",
    "alternating",
    "apply_update",
    "bilinear",
    "clip_parameters",
    "consensus",
    "continue_rollout",
    "dirac_gan",
    "drift_coefficients",
    "drift_regularized",
    "drift_terms",
    "eigenvalues",
    "end_dip",
    "extragradient",
    "field_norms",
    "flow_jacobian",
    "fold_batch",
    "game_eigenvalues",
    "hessian_eigenvalues",
    "kept_steps",
    "modified_field",
    "modified_flow",
    "optimistic",
    "path_angle",
    "rollout",
    "scheme_step",
    "simultaneous",
    "spectral_radius",
    "state_jacobian",
    "theory",
    "update_jacobian",
]
