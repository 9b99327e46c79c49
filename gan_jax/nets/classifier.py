"""A small CNN classifier whose penultimate features define the Fréchet classifier distance
(:func:`gan_jax.metrics.frechet_distance`) and whose predictions define class coverage.

No pretrained Inception network can be downloaded on this project's machines, so the
feature extractor is ours, trained by ``python -m experiments.train_classifier``:
a 2×2 average pooling (32×32 → 16×16: the digits are 8×8 images upsampled, so nothing is
lost and the convolutions cost 4× less), three 3×3 convolutions (32, 64, 128 channels; the
last two stride 2) with ReLU, flattening of the 4×4×128 map (position matters for digits;
global average pooling underfitted the training digits), a ``features``-wide ReLU layer
(the penultimate features), and a linear layer to the class logits.  No BatchNorm or
dropout, so it is a pure function of its parameters.
"""

from __future__ import annotations

import flax.linen as nn
import jax

Array = jax.Array


class Classifier(nn.Module):
    """``images (N, H, W, C) -> logits (N, num_classes)``; ``embed(x)`` gives the
    ``(N, features)`` penultimate activations, ``features_and_logits(x)`` both at once."""

    num_classes: int = 10
    features: int = 128

    def setup(self) -> None:
        self.convs = [
            nn.Conv(32, (3, 3)),
            nn.Conv(64, (3, 3), strides=(2, 2)),
            nn.Conv(128, (3, 3), strides=(2, 2)),
        ]
        self.hidden = nn.Dense(self.features)
        self.head = nn.Dense(self.num_classes)

    def feature_maps(self, x: Array) -> list[Array]:
        """The three convolutions' activations ``(N, h, w, c)`` (for
        :func:`gan_jax.latent.feature_distance`)."""
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        maps = []
        for conv in self.convs:
            x = nn.relu(conv(x))
            maps.append(x)
        return maps

    def embed(self, x: Array) -> Array:
        x = self.feature_maps(x)[-1]
        return nn.relu(self.hidden(x.reshape(x.shape[0], -1)))

    def features_and_logits(self, x: Array) -> tuple[Array, Array]:
        features = self.embed(x)
        return features, self.head(features)

    def __call__(self, x: Array) -> Array:
        return self.features_and_logits(x)[1]


PYRAMID_LEVELS = ("stride 2", "stride 4", "stride 8", "stride 16", "stride 32", "fc", "logits")


class PyramidClassifier(nn.Module):
    """A deeper classifier whose activations form a semantic pyramid (Shocher et al. 2020,
    arXiv:2003.06221) over :data:`PYRAMID_LEVELS`: on 32×32 inputs, the :class:`Classifier`'s
    2×2 average pooling (the digits are 8×8 images up-sampled: nothing is lost), then one
    3×3 convolution per level with ReLU (32, 64, 128, 256, 256 channels, all but the first
    stride 2) giving maps at strides 2, 4, 8, 16 and 32 of the input (16×16 … 1×1), then a
    ``features``-wide ReLU layer ("fc", VGG's fc7) and the logits ("fc8").  :meth:`levels`
    returns all seven; ``__call__`` the logits."""

    num_classes: int = 10
    features: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256, 256)

    def setup(self) -> None:
        self.convs = [
            nn.Conv(w, (3, 3), strides=(1, 1) if i == 0 else (2, 2))
            for i, w in enumerate(self.widths)
        ]
        self.hidden = nn.Dense(self.features)
        self.head = nn.Dense(self.num_classes)

    def levels(self, x: Array) -> list[Array]:
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        out = []
        for conv in self.convs:
            x = nn.relu(conv(x))
            out.append(x)
        fc = nn.relu(self.hidden(x.reshape(x.shape[0], -1)))
        return out + [fc, self.head(fc)]

    def __call__(self, x: Array) -> Array:
        return self.levels(x)[-1]
