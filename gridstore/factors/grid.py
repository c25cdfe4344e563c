"""disentanglement_lib's ground-truth-data protocol over single-object images.

The factor grid is like dSprites': type x subtype x colour x size x row x col,
with only the combinations some shape of the config can take (a checkerboard
has 2, 5 or 8 cells; a long line cannot start near the far edge). Each
factor is a 0-based index: ``object_type - 1``, ``object_subtype``,
``object_colour - 1``, ``object_size - min_size``, ``object_row``,
``object_col``. Combinations are numbered in lexicographic order of these
indices, as dSprites numbers its images.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.factors.catalogue import NUM_SUBTYPES, build_catalogue
from gridstore.factors.rendering import render
from gridstore.factors.table import OBJECT_FACTORS

__all__ = ["SingleObjectData"]

COLOURS = 9


def _draw(random_state: Any, high: int, size: int | None = None) -> Any:
    """Integers in [0, high) from a numpy RandomState (disentanglement_lib's) or Generator."""
    if hasattr(random_state, "integers"):
        return random_state.integers(0, high, size=size)
    return random_state.randint(0, high, size=size)


class SingleObjectData:
    """Single-object images through ``GroundTruthData``'s protocol.

    Parameters
    ----------
    config : GeneratorConfig, optional
        The distribution of shapes (default ``atomic``); its object counts are
        replaced by exactly one object.
    one_hot : bool
        Observations as one-hot colours ``(G, G, 10)`` instead of ``(G, G, 1)``
        cell values scaled to [0, 1].

    Examples
    --------
    >>> data = SingleObjectData()
    >>> data.num_factors, data.factors_num_values
    (6, [4, 5, 9, 14, 16, 16])
    >>> f = data.sample_factors(2, np.random.RandomState(0))
    >>> bool((data.index_to_factors(data.factors_to_index(f)) == f).all())
    True
    """

    factor_names = OBJECT_FACTORS

    def __init__(self, config: GeneratorConfig | None = None, *, one_hot: bool = False) -> None:
        base = config or GeneratorConfig()
        self.config = replace(base, min_objects=1, max_objects=1)
        self.one_hot = one_hot
        c, g = self.config, self.config.grid_size
        cat = build_catalogue(c)
        shapes = cat.feasible[1:5, :NUM_SUBTYPES, c.min_size : c.max_size + 1, :g, :g]
        self._dims = (4, NUM_SUBTYPES, COLOURS, c.max_size - c.min_size + 1, g, g)
        grid = np.broadcast_to(shapes[:, :, None], self._dims)
        self._keys = np.flatnonzero(grid.ravel())  # ascending: lexicographic in the factors

    @property
    def num_factors(self) -> int:
        """Number of factors (6)."""
        return len(self._dims)

    @property
    def factors_num_values(self) -> list[int]:
        """Values each factor's index takes (its range; not every combination exists)."""
        return list(self._dims)

    @property
    def observation_shape(self) -> list[int]:
        """Shape of one observation: ``[G, G, 1]``, or ``[G, G, 10]`` one-hot."""
        g = self.config.grid_size
        return [g, g, 10 if self.one_hot else 1]

    def __len__(self) -> int:
        """Number of factor combinations that exist."""
        return len(self._keys)

    def index_to_factors(self, index: Any) -> np.ndarray:
        """Factors (m, 6) of combinations ``index`` (0 <= index < len(self))."""
        index = np.asarray(index, np.int64)
        if ((index < 0) | (index >= len(self))).any():
            msg = f"combination index must be in 0..{len(self) - 1}"
            raise ConfigError(msg)
        return np.stack(np.unravel_index(self._keys[index], self._dims), -1).astype(np.int64)

    def valid(self, factors: Any) -> np.ndarray:
        """True for each row of ``factors`` (m, 6) that is a combination of the grid."""
        f = self._factors(factors)
        inside: np.ndarray = np.asarray(((f >= 0) & (f < np.array(self._dims))).all(-1))
        key = np.ravel_multi_index(tuple(np.where(inside[:, None], f, 0).T), self._dims)
        at = np.minimum(np.searchsorted(self._keys, key), len(self) - 1)
        return inside & (self._keys[at] == key)

    def factors_to_index(self, factors: Any) -> np.ndarray:
        """Index (m,) of each row of ``factors`` (m, 6) in the grid.

        Raises
        ------
        ConfigError
            A row that is not a combination of the grid (named).
        """
        f = self._factors(factors)
        ok = self.valid(f)
        if not ok.all():
            i = int(np.argmin(ok))
            msg = f"factors row {i} {f[i].tolist()} is not a combination of the grid"
            raise ConfigError(msg)
        key = np.ravel_multi_index(tuple(f.T), self._dims)
        return np.searchsorted(self._keys, key).astype(np.int64)

    def sample_factors(self, num: int, random_state: Any) -> np.ndarray:
        """Draw ``num`` combinations uniformly among those that exist: (num, 6)."""
        return self.index_to_factors(_draw(random_state, len(self), size=num))

    def sample_observations_from_factors(self, factors: Any, random_state: Any) -> np.ndarray:
        """Render one image per row of ``factors``: float32 (num, G, G, 1 or 10)."""
        self.factors_to_index(factors)  # each row must exist
        f = self._factors(factors)
        c = self.config
        codes = {
            "num_objects": np.ones(len(f), np.int64),
            "object_type": f[:, :1] + 1,
            "object_subtype": f[:, 1:2],
            "object_colour": f[:, 2:3] + 1,
            "object_size": f[:, 3:4] + c.min_size,
            "object_row": f[:, 4:5],
            "object_col": f[:, 5:6],
        }
        seed = int(_draw(random_state, 2**63))
        images, _ = render(codes, seed, c)
        if self.one_hot:
            return np.eye(10, dtype=np.float32)[images]
        return (images.astype(np.float32) / 9.0)[..., None]

    def sample(self, num: int, random_state: Any) -> tuple[np.ndarray, np.ndarray]:
        """Draw factors and their observations."""
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: Any) -> np.ndarray:
        """Draw observations only."""
        return self.sample(num, random_state)[1]

    def _factors(self, factors: Any) -> np.ndarray:
        f = np.asarray(factors)
        if f.dtype.kind not in "iu" or f.ndim != 2 or f.shape[1] != self.num_factors:
            msg = f"factors must be integers of shape (m, {self.num_factors}), got {f.dtype} {f.shape}"
            raise ConfigError(msg)
        return f.astype(np.int64)
