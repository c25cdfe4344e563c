"""A split or view as a Grain random-access data source (``__len__``, ``__getitem__``, picklable).

Grain (``grain.python``) loads from any object with ``__len__`` and
``__getitem__``: its samplers shuffle and shard the record keys, and its worker
processes get the source by pickling. `GrainSource` is that object; it holds
only the split's (or view's) names and conditions and reopens the store in
each process, so nothing here imports Grain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsIndex

import numpy as np

from gridstore.errors import ConfigError

__all__ = ["GrainSource"]


class GrainSource:
    """Record ``i`` of a split or view: its image, or a dict of the requested arrays.

    Each record reads its row through the split's lazy arrays: the chunk that
    holds it is decoded once and kept in the process's bounded cache of
    decoded chunks, so records of one chunk read together cost one decode.
    Shuffling over a large version therefore decodes about one chunk per
    record; a Grain ``IndexSampler`` over a view keeps the view's order
    unless it shuffles.

    Parameters
    ----------
    rows : SplitReader or View
        The records, in order (``open_store(...).version()["train"]`` or a ``where`` view).
    fields : sequence of str
        Arrays of a record: ``("images",)`` (default) gives the image itself,
        anything else a dict by field name; ``"index"`` is the row in the split.

    Raises
    ------
    ConfigError
        An unknown field.

    Examples
    --------
    >>> import pickle, tempfile
    >>> from gridstore import Plan, create_version, open_store
    >>> store = tempfile.mkdtemp() + "/datasets"
    >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
    >>> source = GrainSource(open_store(store).version()["val"], fields=("images", "num_objects"))
    >>> len(source), source[3]["images"].shape, len(pickle.loads(pickle.dumps(source)))
    (200, (16, 16), 200)
    """

    def __init__(self, rows: Any, fields: Sequence[str] = ("images",)) -> None:
        fields = tuple(fields)
        known = [*rows.fields, "index"]
        if not fields or (bad := [f for f in fields if f not in known]):
            what = f"unknown field '{bad[0]}'" if fields else "no field"
            msg = f"GrainSource: {what}; choose from {', '.join(known)}"
            raise ConfigError(msg)
        self.rows, self.fields = rows, fields

    def __repr__(self) -> str:
        return f"GrainSource({self.rows!r}, fields={self.fields!r})"

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, record_key: SupportsIndex) -> Any:
        i = int(record_key)
        if not 0 <= i < len(self.rows):
            msg = f"record {i} is out of range for a source of {len(self.rows)} records"
            raise IndexError(msg)
        out = {f: self._read(f, i) for f in self.fields}
        return out["images"] if self.fields == ("images",) else out

    def _read(self, field: str, i: int) -> Any:
        if field == "index":  # a view's rows are some of the split's; a split's are all
            indices = getattr(self.rows, "indices", None)
            return np.int64(i) if indices is None else np.int64(indices[i])
        return self.rows.annotation(field)[i]
