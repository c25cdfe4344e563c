"""The store's layout: version names, keys, codecs and zarr documents, with no I/O.

Every key of a store is built here, relative to the store's root, and the
backends only move bytes::

    zarr.json                            the store (a group; attrs: layout)
    2026-11-25-v1/...                    a complete version (a group, state complete)
    .gridstore/zarr.json                 bookkeeping: a group no reader takes for a version
    .gridstore/work/zarr.json            an empty array: zarr never lists inside an array,
    .gridstore/work/claims/<name>          so everything below it is invisible to readers
    .gridstore/work/staging/<name>/...   a version being written (its zarr hierarchy)
    .gridstore/work/tasks/<name>/...     its plan and task records
    .gridstore/work/locks/<name>         its writer's lock or lease
    .gridstore/work/tombstones/<name>    a deleted version's name: never given again
    .gridstore/work/tags/<tag>           a tag's version (outside the immutable versions)
    .gridstore/work/notes/<name>.<kind>  a version's description, a digest recorded later

Bookkeeping lives inside the store so that it is on the store's own file
system (a store may be a mount point or a symlink to another disk) and a
version is published by one rename.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import numpy as np

from gridstore.errors import ChunkChecksumError, ChunkDecodeError, ConfigError
from gridstore.storage.conventions import BBOX_COORD, BBOX_LABELS, GROUP_ATTRS, attrs_of, dims_of

__all__ = [
    "ARRAY_CODECS",
    "BOOKKEEPING",
    "CHUNK_KEY_SEPARATOR",
    "CLAIMS",
    "COMPRESSIONS",
    "FIELDS",
    "LAYOUT",
    "NOTES",
    "TAGS",
    "TASKS",
    "TOMBSTONES",
    "VERSION_RE",
    "array_docs",
    "bookkeeping_docs",
    "chunk_encoder",
    "chunk_key",
    "chunk_separator",
    "claim_key",
    "codec_spec",
    "format_version_name",
    "lock_key",
    "parse_version_name",
    "required_keys",
    "root_doc",
    "staged_key",
    "task_key",
    "tasks_key",
    "version_state",
]

LAYOUT = 1
# Chunk keys of new versions (issue 26): zarr v3's default chunk key encoding with
# the "." separator, "<array>/c.<i>.0.0", so that every chunk of an array is a file
# in the array's own directory and a task creates no directory. Versions written
# before keep "/" ("<array>/c/<i>/0/0", a directory per chunk). Each array's
# zarr.json records its encoding: every reader and writer builds keys from it
# (`chunk_separator`), so both kinds live side by side in one store.
CHUNK_KEY_SEPARATOR = "."
# The arrays of every split, in docs/internals.md order (Annotations' fields after images).
FIELDS = (
    "images",
    "num_objects",
    "object_type",
    "object_subtype",
    "object_colour",
    "object_size",
    "object_bbox",
    "instance_map",
)
# Blosc settings per array, chosen with benchmarks/bench_codecs.py (table in
# docs/internals.md). Images: the cheapest setting smaller than the seed's npz
# (zstd 4: 0.98x its bytes at ~1.2 us/image; zstd 5 gains 1.5% for 30% more
# time). Instance maps and boxes: zstd 1 packs them to half of lz4's bytes at
# almost lz4's speed. Bit-shuffling packs the small per-object codes best;
# whole-chunk blocks (1 MiB) let zstd see repeats across images.
ARRAY_CODECS: dict[str, dict[str, Any]] = {
    "images": {"cname": "zstd", "clevel": 4, "shuffle": "bitshuffle", "blocksize": 1 << 20},
    "instance_map": {"cname": "zstd", "clevel": 1, "shuffle": "bitshuffle", "blocksize": 1 << 20},
    "num_objects": {"cname": "zstd", "clevel": 3, "shuffle": "shuffle", "blocksize": 0},
    "object_bbox": {"cname": "zstd", "clevel": 1, "shuffle": "bitshuffle", "blocksize": 1 << 20},
    "*": {"cname": "zstd", "clevel": 3, "shuffle": "bitshuffle", "blocksize": 0},
}
# ``compression="max"`` trades write speed for bytes: zarr's own zstd codec at
# level 19 on the raw bytes of images (0.78x the npz, ~90 us/image: 70x the
# default's encode time) and Blosc's strongest zstd (9) on the other arrays.
MAX_CODECS: dict[str, dict[str, Any]] = {
    "images": {"zstd_level": 19},
    **{k: v | {"clevel": 9} for k, v in ARRAY_CODECS.items() if k != "images"},
}
COMPRESSIONS = {"default": ARRAY_CODECS, "max": MAX_CODECS}
VERSION_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-v([1-9]\d{0,5})$")
BOOKKEEPING = ".gridstore"
_WORK = f"{BOOKKEEPING}/work"
CLAIMS = f"{_WORK}/claims"  # one object per claimed name
TASKS = f"{_WORK}/tasks"  # one prefix per staged version
TOMBSTONES = f"{_WORK}/tombstones"  # one object per deleted version
TAGS = f"{_WORK}/tags"  # one object per tag
NOTES = f"{_WORK}/notes"  # <name>.description, <name>.digest: what may change about a version


def parse_version_name(name: str) -> tuple[dt.date, int]:
    """Split ``YYYY-MM-DD-vN`` into its date and N.

    Raises
    ------
    ConfigError
        The name does not have that form.
    """
    m = VERSION_RE.match(name)
    try:
        if m is None:
            raise ValueError
        return dt.date(int(m[1]), int(m[2]), int(m[3])), int(m[4])
    except ValueError:
        msg = f"version name must look like YYYY-MM-DD-vN (e.g. 2026-11-25-v1), got {name!r}"
        raise ConfigError(msg) from None


def format_version_name(day: dt.date, n: int) -> str:
    """The name of the ``n``-th version of ``day``."""
    return f"{day.isoformat()}-v{n}"


def claim_key(name: str) -> str:
    """The object that reserves a version name (created exclusively)."""
    return f"{CLAIMS}/{name}"


def staged_key(name: str) -> str:
    """The prefix of a version while it is written."""
    return f"{_WORK}/staging/{name}"


def tasks_key(name: str) -> str:
    """The prefix of a staged version's plan and task records."""
    return f"{TASKS}/{name}"


def task_key(name: str, index: int, suffix: str) -> str:
    """Task ``index``'s record (``json``: its statistics, written last), hashes (``hashes``), ..."""
    return f"{tasks_key(name)}/{index}.{suffix}"


def lock_key(name: str) -> str:
    """The lock (local) or lease (object storage) of a version's writer."""
    return f"{_WORK}/locks/{name}"


def chunk_key(array: str, chunk: int, ndim: int, separator: str) -> str:
    """Key of chunk ``chunk`` along images of an ``ndim``-d array whose prefix is ``array``.

    ``separator`` is the array's (`chunk_separator`): ``"."`` gives
    ``<array>/c.<chunk>.0.0``, ``"/"`` (versions before issue 26) ``<array>/c/<chunk>/0/0``.
    """
    return f"{array}/" + separator.join(["c", str(chunk), *["0"] * (ndim - 1)])


def chunk_separator(meta: dict[str, Any], where: str) -> str:
    """The separator of an array's chunk keys, from its zarr.json ``meta``.

    Raises
    ------
    ConfigError
        Not zarr v3's default encoding with "/" or "." (gridstore writes no other).
    """
    encoding = meta.get("chunk_key_encoding", {})
    separator = encoding.get("configuration", {}).get("separator", "/")
    if encoding.get("name") != "default" or separator not in ("/", "."):
        msg = f"array '{where}' has chunk key encoding {encoding}; gridstore writes 'default'"
        raise ConfigError(msg)
    return str(separator)


def required_keys(shapes: dict[str, dict[str, tuple]], separator: str) -> list[str]:
    """Every key a complete version of these arrays holds, relative to the version.

    ``shapes[split][array] = (shape, chunks, dtype)``: each split's and array's
    zarr.json and every chunk along images (the images axis is the only one split),
    with the version's chunk key ``separator``.
    """
    keys = []
    for split, arrays in shapes.items():
        keys.append(f"{split}/zarr.json")
        for array, (shape, chunks, _) in arrays.items():
            keys.append(f"{split}/{array}/zarr.json")
            count = -(-shape[0] // chunks[0])
            prefix = f"{split}/{array}"
            keys += [chunk_key(prefix, i, len(shape), separator) for i in range(count)]
    return keys


def version_state(doc: bytes | None) -> str | None:
    """The ``state`` attribute of a version's zarr.json bytes (None: absent or unreadable)."""
    try:
        attrs = json.loads(doc)["attributes"] if doc is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    return attrs.get("state") if isinstance(attrs, dict) else None


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


def root_doc() -> bytes:
    """The store's own zarr.json."""
    return _json(
        {"zarr_format": 3, "node_type": "group", "attributes": {"gridstore": {"layout": LAYOUT}}}
    )


def bookkeeping_docs() -> dict[str, bytes]:
    """The zarr.json documents that make the bookkeeping area a valid, inert Zarr node."""
    note = "gridstore bookkeeping: versions being written, claims, locks; not a dataset version"
    group = {"zarr_format": 3, "node_type": "group", "attributes": {"gridstore": {"note": note}}}
    work = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [0],
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes"}],
        "attributes": {"gridstore": {"note": note}},
        "dimension_names": ["gridstore_work"],
    }
    return {f"{BOOKKEEPING}/zarr.json": _json(group), f"{_WORK}/zarr.json": _json(work)}


def codec_spec(array: str, compression: str = "default") -> dict[str, Any]:
    """The codec settings of ``array`` under ``compression`` (a key of `COMPRESSIONS`)."""
    codecs = COMPRESSIONS[compression]
    return codecs.get(array, codecs["*"])


def _codecs(name: str, itemsize: int, compression: str) -> list[Any]:
    from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

    spec = codec_spec(name, compression)
    if "zstd_level" in spec:
        return [ZstdCodec(level=spec["zstd_level"]), Crc32cCodec()]
    return [BloscCodec(typesize=itemsize, **spec), Crc32cCodec()]


def array_docs(
    name: str, shapes: dict[str, dict[str, tuple]], compression: str = "default"
) -> dict[str, bytes]:
    """The zarr.json documents of a new version (state "in_progress"), by key under the version.

    ``shapes[split][array] = (shape, chunks, dtype)``; ``compression`` picks
    the codecs (a key of `COMPRESSIONS`). zarr itself writes them, into
    memory, so they are exactly what zarr would write on disk. Each split also
    gets ``bbox``, the labels of object_bbox's last axis (its one chunk
    included): xarray takes it for that dimension's coordinate. An array
    named ``<group>/<name>`` (a pair array: `gridstore.pairs.layout`) lives in
    a subgroup of the split, with that group's attributes; it takes the codecs
    of ``<name>``, and the subgroup its own ``bbox`` if it has an object_bbox.
    """
    import zarr
    from zarr.storage import MemoryStore

    docs: dict[str, Any] = {}
    root = zarr.open_group(MemoryStore(docs), mode="w", zarr_format=3)
    root.attrs.update({"state": "in_progress", "version": name})
    for split, arrays in shapes.items():
        groups = {"": root.create_group(split)}
        for array, (shape, chunks, dtype) in arrays.items():
            sub, _, base = array.rpartition("/")
            if sub not in groups:
                groups[sub] = groups[""].create_group(sub, attributes=GROUP_ATTRS.get(sub, {}))
            groups[sub].create_array(
                base,
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                fill_value=0,
                compressors=_codecs(base, np.dtype(dtype).itemsize, compression),
                dimension_names=dims_of(array),
                chunk_key_encoding={"name": "default", "separator": CHUNK_KEY_SEPARATOR},
                attributes=attrs_of(array),
                config={"write_empty_chunks": True},
            )
        for sub, group in groups.items():
            if f"{sub}/object_bbox".lstrip("/") in arrays:
                # its chunk at "bbox/0" (v2 keys), apart from the arrays' "c..." chunks
                labels = group.create_array(BBOX_COORD, shape=(4,), dtype=str, fill_value="",
                                            dimension_names=(BBOX_COORD,),
                                            chunk_key_encoding={"name": "v2", "separator": "."},
                                            attributes={"long_name": "bounding box edge"})  # fmt: skip
                labels[:] = np.array(BBOX_LABELS)
    return {key: buf.to_bytes() for key, buf in docs.items()}


def chunk_encoder(meta: dict[str, Any], where: str) -> tuple[Any, Any, int]:
    """``(encode, decode, ndim)`` for whole chunks of an array, from its zarr.json ``meta``.

    ``encode(data)`` returns the bytes zarr would write for that chunk;
    ``decode(raw, out=None)`` checks the crc32c and returns the array (raising
    `ChunkChecksumError` or `ChunkDecodeError` on a damaged chunk); a Blosc
    chunk is decoded straight into ``out`` (a whole chunk, C order) when it is
    given, others are copied into it. ``where`` names the array in errors.
    """
    import google_crc32c
    from numcodecs import Blosc, Zstd
    from numcodecs import blosc as numcodecs_blosc

    chunk_shape = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    names = [c["name"] for c in meta["codecs"]]
    endian = meta["codecs"][0].get("configuration", {}).get("endian", "little")
    if (
        names not in (["bytes", "blosc", "crc32c"], ["bytes", "zstd", "crc32c"])
        or endian != "little"
    ):
        msg = f"array '{where}' has codecs {names}; gridstore writes bytes, blosc or zstd, crc32c"
        raise ConfigError(msg)
    if meta["fill_value"] != 0:
        msg = f"array '{where}' has fill value {meta['fill_value']}; gridstore writes 0"
        raise ConfigError(msg)
    conf = meta["codecs"][1]["configuration"]
    shuffle = {
        "noshuffle": Blosc.NOSHUFFLE,
        "shuffle": Blosc.SHUFFLE,
        "bitshuffle": Blosc.BITSHUFFLE,
    }
    codec: Blosc | Zstd = (
        Zstd(conf["level"], conf.get("checksum", False))
        if names[1] == "zstd"
        else Blosc(
            conf["cname"],
            conf["clevel"],
            shuffle[conf["shuffle"]],
            conf["blocksize"],
            conf["typesize"],
        )
    )

    def encode(data: np.ndarray) -> bytes:
        if data.shape != chunk_shape:  # the last chunk: zarr pads it with the fill value
            padded = np.zeros(chunk_shape, dtype)
            padded[: len(data)] = data
            data = padded
        # Threaded blosc stores blocks in the order its threads finish: the same
        # data could give other bytes. One thread keeps every chunk deterministic.
        threads, numcodecs_blosc.use_threads = numcodecs_blosc.use_threads, False
        try:
            compressed = codec.encode(np.ascontiguousarray(data, dtype=dtype))
        finally:
            numcodecs_blosc.use_threads = threads
        return compressed + np.uint32(google_crc32c.value(compressed)).tobytes()

    def decode(raw: bytes, out: np.ndarray | None = None) -> np.ndarray:
        body, crc = raw[:-4], raw[-4:]
        if len(raw) < 5 or np.frombuffer(crc, "<u4")[0] != google_crc32c.value(body):
            msg = f"chunk of '{where}' fails its crc32c checksum"
            raise ChunkChecksumError(msg)
        try:
            if (
                out is not None
                and isinstance(codec, Blosc)
                and (out.shape, out.dtype) == (chunk_shape, dtype)
                and out.flags.c_contiguous
            ):
                # Blosc's header gives the decoded size: a frame that would not
                # fill ``out`` exactly is damaged, and is refused before it is written.
                if int.from_bytes(body[4:8], "little") != out.nbytes:
                    msg = f"the blosc frame does not hold a chunk of shape {chunk_shape}"
                    raise ValueError(msg)
                numcodecs_blosc.decompress(body, out)  # no intermediate buffer, no copy
                return out
            values = np.frombuffer(codec.decode(body), dtype).reshape(chunk_shape)
            if out is None:
                return values
            out[...] = values
            return out
        except (RuntimeError, ValueError) as err:  # what numcodecs raises for a bad frame
            msg = f"chunk of '{where}' passes its crc32c but cannot be decoded ({err})"
            raise ChunkDecodeError(msg) from err

    return encode, decode, len(chunk_shape)
