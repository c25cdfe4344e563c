"""One split's arrays as zarr sees them, and the one checked way to read a chunk.

`SplitSource` holds only names and opens zarr lazily in each process, so
everything built on it pickles into DataLoader workers under 'fork' and
'spawn'. Every byte the readers return comes through `read_chunk`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from gridstore.errors import ConfigError, CorruptChunkError, StoreNotFoundError
from gridstore.pairs.layout import INTERVENTION, PAIR, RECORD_FIELDS
from gridstore.read.cache import cached, new_source_id
from gridstore.storage import FIELDS, backend, open_backend, zarr_store
from gridstore.storage.layout import chunk_encoder

if TYPE_CHECKING:
    import zarr

__all__ = ["SplitSource", "chunk_key", "open_root", "read_chunk"]

# Fields whose every row (one image) has a nonzero byte in a valid version (a twin has
# objects too, and every intervention a kind).
_NONZERO_ROWS = frozenset(FIELDS) - {"object_subtype", "object_bbox"}
_NONZERO_ROWS |= {f"{PAIR}/{f}" for f in _NONZERO_ROWS} | {f"{INTERVENTION}/kind"}
# A paired version's arrays beside the split's own (`gridstore.pairs.layout`), by group.
_PAIR_FIELDS = {PAIR: FIELDS, INTERVENTION: tuple(RECORD_FIELDS)}
_VALIDATE = "run 'gridstore validate --full'"


def open_root(path: str) -> zarr.Group:
    """The store's root group, after the store's own checks (local path or URL)."""
    import zarr

    open_backend(path)
    return zarr.open_group(zarr_store(path), mode="r", zarr_format=3)


def _zero_rows(data: np.ndarray) -> np.ndarray:
    """Return the indices of the rows (axis 0) whose bytes are all zero."""
    rows = data.reshape(len(data), -1).view(np.uint8)
    rows = rows.view(np.uint64) if rows.shape[1] % 8 == 0 else rows
    return np.flatnonzero(np.bitwise_or.reduce(rows, axis=1) == 0)


def chunk_key(arr: zarr.Array[Any], chunk: int) -> str:
    """The store key of chunk ``chunk`` (along images) of ``arr``."""
    return f"{arr.path}/{arr.metadata.encode_chunk_key((chunk,) + (0,) * (arr.ndim - 1))}"


def _missing(key: str, store: str) -> str:
    """The message for a missing chunk."""
    return f"chunk '{key}' of store '{store}' is missing (read as zeros); {_VALIDATE}"


def _decoder(arr: zarr.Array[Any]) -> Callable[..., np.ndarray] | None:
    """The store's own chunk decoder for ``arr`` (see `chunk_encoder`), or None.

    None unless each chunk holds whole images in gridstore's codecs; other
    arrays are read through zarr.
    """
    codecs = getattr(arr.metadata, "codecs", None)  # zarr v2 arrays have none
    if codecs is None or tuple(arr.chunks[1:]) != tuple(arr.shape[1:]):
        return None
    meta = {
        "chunk_grid": {"configuration": {"chunk_shape": list(arr.chunks)}},
        "data_type": arr.dtype.str,
        "codecs": [c.to_dict() for c in codecs],
        "fill_value": arr.fill_value,
    }
    try:
        return chunk_encoder(meta, arr.path)[1]
    except ConfigError:
        return None


def _read_direct(
    arr: zarr.Array[Any],
    decode: Callable[..., np.ndarray],
    chunk: int,
    n: int,
    out: np.ndarray | None,
    store: str,
) -> np.ndarray | None:
    """Chunk ``chunk`` (``n`` rows) of ``arr``, decoded into ``out`` by ``decode``; None if missing.

    zarr decodes each chunk into a new buffer and copies it into ``out``;
    here blosc writes straight into ``out`` (the last, short chunk excepted).
    """
    raw = backend(store).get(chunk_key(arr, chunk))
    if raw is None:
        return None
    if out is not None and n == arr.chunks[0]:
        return decode(raw, out[:n])
    whole = decode(raw)  # zarr pads the last chunk: decode it whole
    if out is None:
        return whole[:n]
    out[:n] = whole[:n]
    return out[:n]


def read_chunk(
    arr: zarr.Array[Any],
    chunk: int,
    *,
    field: str,
    store: str,
    out: np.ndarray | None = None,
    check_rows: bool = True,
) -> np.ndarray:
    """Read chunk ``chunk`` (axis 0) of ``arr`` whole and check its integrity.

    With ``out`` (C-contiguous, at least the chunk's rows), decode into its first
    rows. A chunk that fails its crc32c or does not decode, or a missing one
    (zarr reads it as fill zeros), raises a `CorruptChunkError` subclass naming
    the chunk key; so does, with ``check_rows``, an all-zero image, which no
    valid version has. Arrays in gridstore's codecs are decoded by the store's
    own decoder, straight into ``out``; others by zarr.
    """
    from zarr.buffer.cpu import NDBuffer

    size = arr.chunks[0]
    rows = slice(chunk * size, min((chunk + 1) * size, arr.shape[0]))
    decode = _decoder(arr)
    direct = decode is not None
    try:
        if decode is not None:
            data = _read_direct(arr, decode, chunk, rows.stop - rows.start, out, store)
        elif out is None:
            data = np.asarray(arr[rows])
        else:
            data = out[: rows.stop - rows.start]
            arr.get_basic_selection(rows, out=NDBuffer.from_numpy_array(data))
    except (ValueError, RuntimeError, CorruptChunkError) as err:  # find which damage
        _diagnose(arr, chunk, store)
        msg = f"chunk '{chunk_key(arr, chunk)}' of store '{store}' could not be read ({err})"
        raise CorruptChunkError(msg) from err
    if data is None:  # the direct read knows a chunk is missing without a look at its rows
        raise CorruptChunkError(_missing(chunk_key(arr, chunk), store))
    if direct and not (check_rows and field in _NONZERO_ROWS):
        return data
    zero = _zero_rows(data) if field in _NONZERO_ROWS else ([] if data.any() else [0])
    if len(zero):
        key = chunk_key(arr, chunk)
        if not direct and not backend(store).has(key):  # local or object storage alike
            raise CorruptChunkError(_missing(key, store))
        if check_rows and field in _NONZERO_ROWS:
            msg = (
                f"chunk '{key}' of store '{store}' has an all-zero row at offset {zero[0]},"
                f" which a valid version never has; {_VALIDATE}"
            )
            raise CorruptChunkError(msg)
    return data


def _diagnose(arr: zarr.Array[Any], chunk: int, store: str) -> None:
    """Re-read a chunk that zarr could not, with the store's own decoder, to name its damage."""
    try:
        backend(store).read_chunk(arr.path, chunk)
    except CorruptChunkError as err:
        version = arr.path.split("/")[0]
        msg = f"{err}; {_VALIDATE} and regenerate {version}"
        raise type(err)(msg) from err


class SplitSource:
    """The zarr arrays of one split, opened once per process; picklable.

    Parameters
    ----------
    store : str
        Path or URL of the store.
    version, split : str
        Names of the version and the split.
    """

    def __init__(self, store: str, version: str, split: str) -> None:
        self.store, self.version, self.split = store, version, split
        # (pid, arrays, id): opened once per process; the id keys the chunk cache
        self._handles: tuple[int, dict[str, zarr.Array[Any]], int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handles": None}

    def arrays(self) -> dict[str, zarr.Array[Any]]:
        """The split's arrays by field name (opened on first use in each process)."""
        if self._handles is None or self._handles[0] != os.getpid():
            self._handles = (os.getpid(), self._open(), new_source_id())
        return self._handles[1]

    def _open(self) -> dict[str, zarr.Array[Any]]:
        import zarr

        where = f"{self.version}/{self.split}"
        group, arrays = open_root(self.store)[where], {}
        assert isinstance(group, zarr.Group)
        names = list(FIELDS)
        for sub, fields in _PAIR_FIELDS.items():  # a paired version's, if it is one
            if sub in group:
                names += [f"{sub}/{f}" for f in fields]
        for field in names:  # one at a time: a corrupt zarr.json fails alone, by name
            try:
                array = group[field]
            except KeyError:
                continue  # an older layout without this annotation
            except (ValueError, TypeError) as err:  # zarr.json that is not JSON / not v3
                msg = (
                    f"the metadata of '{where}/{field}' in store '{self.store}' is corrupt "
                    f"({type(err).__name__}: {str(err).splitlines()[0]}); run 'gridstore validate'"
                )
                raise StoreNotFoundError(msg) from err
            assert isinstance(array, zarr.Array)
            arrays[field] = array
        return arrays

    @property
    def fields(self) -> list[str]:
        """Names of the split's arrays: "images", then annotations in table order.

        A paired version's twin and record arrays (``pair/images``, ...,
        ``intervention/kind``, ...) are read by name too, but not listed here.
        """
        rank = {f: i for i, f in enumerate(FIELDS)}
        own = [f for f in self.arrays() if "/" not in f]
        return sorted(own, key=lambda f: (rank.get(f, len(rank)), f))

    @property
    def pair_fields(self) -> list[str]:
        """A paired version's twin and record arrays, in layout order ([] without pairs)."""
        return [f for f in self.arrays() if "/" in f]

    def __len__(self) -> int:
        return int(self.arrays()["images"].shape[0])

    @property
    def chunk_images(self) -> int:
        """Images per chunk of the split's images."""
        return int(self.arrays()["images"].chunks[0])

    def rows(self, chunks: np.ndarray) -> int:
        """Number of rows (images) in ``chunks`` (the last chunk may be short)."""
        size, n = self.chunk_images, len(self)
        return sum(min(size, n - int(c) * size) for c in chunks)

    def cached(self, field: str, chunk: int) -> np.ndarray:
        """Chunk ``chunk`` of array ``field``, checked, from the process's cache (read-only).

        See `gridstore.read.cache`: what random reads go through.
        """
        self.arrays()  # opened (and numbered) in this process
        assert self._handles is not None
        return cached((self._handles[2], field, chunk), lambda: self.read(field, chunk))

    def read(self, field: str, chunk: int, out: np.ndarray | None = None) -> np.ndarray:
        """Chunk ``chunk`` of array ``field``, checked (see `read_chunk`); into ``out`` if given."""
        arr = self.arrays()[field]
        return read_chunk(arr, chunk, field=field, store=self.store, out=out)
