"""A version's content digest: one sha256 over the crc32c of every chunk, in a fixed order.

What it covers: every chunk of every array of every split (``FIELDS``, not the
constant ``bbox`` labels; in a paired version also the twins' arrays and the
intervention records, ``DIGEST_ARRAYS``), by the crc32c that zarr's ``crc32c`` codec stores in
the chunk's last 4 bytes, which is the checksum of the chunk's encoded
(compressed) body; and each array's shape, chunk shape and dtype. Splits in
train, val, test order, arrays in ``DIGEST_ARRAYS`` order, chunks by index.
An array a version lacks is left out, so the digest of a version without
pairs is the one it had before pairs existed. Two
versions whose arrays hold the same encoded bytes have the same digest,
whatever their names, dates, seeds or metadata; a changed byte of a chunk
changes its crc32c, and so the digest (up to the crc's 32 bits per chunk: the
digest tells versions apart, it does not seal them against a forger).

Cheap at commit: each task records the crc32c of the chunks it wrote (see
`gridstore.write.identity`), the commit's ``records`` jobs return them
(`gridstore.write.reduce`), and the client hashes 4 bytes per chunk and
reads no chunk. ``validate --full`` recomputes it (`recompute`): its workers
have checked every chunk's body against its stored crc32c, so on a local
disk it reads the last 4 bytes of those that passed and the whole of those
that did not (their body's crc32c): damage shows as a digest mismatch as
well as a bad chunk. On object storage every chunk is read whole and its body
checked again, as a ranged GET carries no checksum.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from gridstore.errors import GridstoreError
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.pairs.layout import INTERVENTION, PAIR, RECORD_FIELDS
from gridstore.storage import FIELDS, StoreBackend
from gridstore.storage.layout import chunk_key, chunk_separator

__all__ = [
    "DIGEST_ARRAYS",
    "DIGEST_SCHEME",
    "Shapes",
    "chunk_keys",
    "content_digest",
    "recompute",
    "short_digest",
    "split_arrays",
    "stored_arrays",
]

DIGEST_SCHEME = "gridstore-digest-1"
# A split's arrays in the digest's order: its own, then a paired version's twins and records.
_GROUPS = {PAIR: FIELDS, INTERVENTION: tuple(RECORD_FIELDS)}
DIGEST_ARRAYS = (*FIELDS, *(f"{g}/{a}" for g, names in _GROUPS.items() for a in names))
Shapes = Mapping[str, Mapping[str, tuple[Any, ...]]]  # split -> array -> (shape, chunks, dtype)
Separators = Mapping[str, Mapping[str, str]]  # split -> array -> its chunk key separator
_BATCH = 64  # chunks fetched at once (concurrently from object storage)


def _count(shape: Sequence[int], chunks: Sequence[int]) -> int:
    return -(-int(shape[0]) // int(chunks[0]))


def split_arrays(arrays: Collection[str]) -> list[str]:
    """Those of a split's ``arrays`` that the digest covers, in its order (`DIGEST_ARRAYS`)."""
    return [a for a in DIGEST_ARRAYS if a in arrays]


def _arrays(shapes: Shapes) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """``(split, array, (shape, chunks, dtype))`` in the digest's order."""
    for split in ALL_SPLITS:  # a version without a heldout split: as before it existed
        for array in split_arrays(shapes.get(split, {})):
            yield split, array, shapes[split][array]


def chunk_keys(
    prefix: str, shapes: Shapes, separators: Separators
) -> Iterator[tuple[str, str, int, str]]:
    """``(split, array, chunk, key)`` of every chunk below ``prefix``, in the digest's order.

    ``separators[split][array]``: the array's chunk key separator (`stored_arrays`).
    """
    for split, array, (shape, chunks, _) in _arrays(shapes):
        sep = separators[split][array]
        for c in range(_count(shape, chunks)):
            yield split, array, c, chunk_key(f"{prefix}/{split}/{array}", c, len(shape), sep)


def content_digest(shapes: Shapes, crcs: Mapping[str, Mapping[str, npt.ArrayLike]]) -> str:
    """The digest of arrays ``shapes`` whose chunks have the crc32c values ``crcs[split][array]``.

    Parameters
    ----------
    shapes : mapping
        ``shapes[split][array] = (shape, chunks, dtype)`` (`Plan.array_shapes`).
    crcs : mapping
        ``crcs[split][array]``: the crc32c of each chunk along images, in order.

    Returns
    -------
    str
        ``sha256:`` and 64 hex digits.

    Raises
    ------
    ValueError
        A crc list whose length is not the array's chunk count.

    Examples
    --------
    >>> shapes = {"train": {"images": ((3, 2, 2), (2, 2, 2), "uint8")}}
    >>> content_digest(shapes, {"train": {"images": [1, 2]}})[:15]
    'sha256:3ccedc47'
    """
    h = hashlib.sha256(DIGEST_SCHEME.encode())
    for split, array, (shape, chunks, dtype) in _arrays(shapes):
        values = np.asarray(crcs[split][array], "<u4")
        if len(values) != _count(shape, chunks):
            msg = f"{len(values)} crc32c values for the {_count(shape, chunks)} chunks of {split}/{array}"
            raise ValueError(msg)
        head = f"\n{split}/{array} {list(map(int, shape))} {list(map(int, chunks))} {np.dtype(dtype).name}\n"
        h.update(head.encode())
        h.update(values.tobytes())
    return f"sha256:{h.hexdigest()}"


def short_digest(digest: str | None) -> str:
    """The first 12 hex digits of a digest (as ``versions`` shows it), or ``-``."""
    return digest.partition(":")[2][:12] if digest else "-"


def stored_arrays(
    store: StoreBackend, name: str
) -> tuple[dict[str, dict[str, tuple[Any, ...]]], dict[str, dict[str, str]]]:
    """A version's arrays, from their zarr.json: their shapes and their chunk key separators.

    Returns ``{split: {array: (shape, chunks, dtype)}}`` and ``{split: {array:
    separator}}`` (``"."``, or ``"/"`` in versions before dotted keys). A
    split's pair and intervention arrays are read where their group is.
    """
    groups = [(s, g) for s in ALL_SPLITS for g in _GROUPS]
    wanted = [(s, a) for s in ALL_SPLITS for a in FIELDS]
    docs = store._get_many([f"{name}/{s}/{a}/zarr.json" for s, a in [*wanted, *groups]])
    docs, found = docs[: len(wanted)], docs[len(wanted) :]
    paired = [(s, f"{g}/{a}") for (s, g), d in zip(groups, found, strict=True)
              if d is not None for a in _GROUPS[g]]  # fmt: skip
    if paired:  # a paired version's twins and records
        docs += store._get_many([f"{name}/{s}/{a}/zarr.json" for s, a in paired])
        wanted += paired
    shapes: dict[str, dict[str, tuple[Any, ...]]] = {}
    separators: dict[str, dict[str, str]] = {}
    for (split, array), raw in zip(wanted, docs, strict=True):
        if raw is None:
            continue
        where = f"{store.path}/{name}/{split}/{array}"
        try:
            meta = json.loads(raw)
            chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
        except (ValueError, KeyError, TypeError):
            msg = f"array '{where}' has an unreadable zarr.json; run 'gridstore validate {name}'"
            raise GridstoreError(msg) from None
        shapes.setdefault(split, {})[array] = (
            tuple(meta["shape"]),
            tuple(chunks),
            meta["data_type"],
        )
        separators.setdefault(split, {})[array] = chunk_separator(meta, where)
    return shapes, separators


def recompute(
    store: StoreBackend, name: str, suspects: Collection[str] | None = None
) -> tuple[str | None, list[str]]:
    """Recompute a complete version's digest from its chunks' bytes.

    Parameters
    ----------
    store : StoreBackend
    name : str
        A complete version.
    suspects : collection of str, optional
        Chunk keys that may not match their stored crc32c. With it, only
        these are read whole; every other chunk's last 4 bytes are read, which
        is the same crc32c for a chunk that passed its checksum (``validate
        --full`` gives its failed and missing chunks here, having checked the
        rest). None: every chunk is read whole and its body's crc32c computed.
        A backend that cannot read a chunk's tail alone (object storage:
        a ranged GET carries no checksum, so a byte flipped on the way would
        go unseen) reads every chunk whole, and checks its body, whatever
        ``suspects`` says: the tail would cost the whole read there anyway.

    Returns
    -------
    digest : str or None
        The digest of the bytes stored now; None if a chunk is missing.
    damaged : list of str
        Keys of chunks missing, or whose body does not match their stored crc32c.
    """
    import google_crc32c

    shapes, separators = stored_arrays(store, name)
    keys = list(chunk_keys(name, shapes, separators))
    if suspects is None or not store.reads_tails:
        whole = [k[3] for k in keys]
    else:
        whole = [k[3] for k in keys if k[3] in suspects]
    crc: dict[str, int] = {}
    damaged: list[str] = []
    for i in range(0, len(whole), _BATCH):
        for key, raw in zip(
            whole[i : i + _BATCH], store._get_many(whole[i : i + _BATCH]), strict=True
        ):
            if raw is None or len(raw) < 5:
                damaged.append(key)
                continue
            crc[key] = google_crc32c.value(raw[:-4])
            if crc[key] != int.from_bytes(raw[-4:], "little"):
                damaged.append(key)
    bad = set(damaged)
    rest = [k[3] for k in keys if k[3] not in crc and k[3] not in bad]
    for i in range(0, len(rest), 16 * _BATCH):
        for key, tail in zip(
            rest[i : i + 16 * _BATCH], store.tails(rest[i : i + 16 * _BATCH]), strict=True
        ):
            if tail is None or len(tail) < 4:
                damaged.append(key)
                continue
            crc[key] = int.from_bytes(tail, "little")
    if len(crc) < len(keys):  # a chunk with no crc32c to take: no digest either
        return None, damaged
    # every array, an empty split's (no chunk) too
    crcs: dict[str, dict[str, list[int]]] = {s: {a: [] for a in shapes[s]} for s in shapes}
    for split, array, _, key in keys:
        crcs[split][array].append(crc[key])
    return content_digest(shapes, crcs), damaged
