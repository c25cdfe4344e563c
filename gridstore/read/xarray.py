"""One split as an xarray Dataset: shared dimensions, CF-style attributes, names for codes.

Every version's split is a plain Zarr group that ``xr.open_zarr(path,
consolidated=False)`` opens by itself, the ``bbox`` labels included;
`open_split` also opens versions written before the shared dimension names,
attributes and labels (``images_dim1``, ``object_type_dim1``, ..., no
attributes) as the same tidy Dataset. `flag_names` and `subtype_names` turn codes into names.
xarray is imported on use (``pip install 'gridstore[xarray]'``).
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING

import numpy as np

from gridstore.errors import ConfigError
from gridstore.pairs.layout import INTERVENTION, PAIR
from gridstore.read.store import open_store
from gridstore.storage import FIELDS, zarr_store
from gridstore.storage.conventions import ARRAY_ATTRS, BBOX_LABELS, dims_of

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["flag_names", "open_split", "subtype_names"]


def _require_xarray() -> None:
    try:
        import xarray  # noqa: F401
    except ImportError as err:
        msg = "gridstore's xarray helpers need xarray; install it with pip install 'gridstore[xarray]'"
        raise ImportError(msg) from err


def open_split(
    store: str | os.PathLike[str],
    version: str | None = None,
    split: str = "train",
    group: str | None = None,
) -> xr.Dataset:
    """Open one split of a version as a lazy xarray Dataset.

    Parameters
    ----------
    store : str or os.PathLike
        Directory or ``s3://`` URL of the store.
    version : str, optional
        The version's name; None (default) is the latest complete version.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or a hold-out version's ``"heldout"``.
    group : str, optional
        A paired version's ``"pair"`` (the twins, as the split's Dataset, row
        ``i`` the twin of image ``i``) or ``"intervention"`` (the records).

    Returns
    -------
    xarray.Dataset
        The split's arrays (dask-backed when dask is installed) in
        docs/internals.md order, on dimensions ``image``, ``row``, ``col``,
        ``object`` and ``bbox``, with their CF-style attributes; ``bbox`` is
        a coordinate (``row_min``, ``col_min``, ``row_max``, ``col_max``).

    Raises
    ------
    StoreNotFoundError
        ``store`` is not a gridstore store.
    VersionNotFoundError
        No complete version or split of that name, or ``group`` of a version
        without pairs.
    ConfigError
        ``group`` is not one of the above.

    Examples
    --------
    >>> import tempfile
    >>> from gridstore import Plan, create_version
    >>> store = tempfile.mkdtemp() + "/datasets"
    >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
    >>> ds = open_split(store, split="val")
    >>> dict(ds.sizes)
    {'image': 200, 'row': 16, 'col': 16, 'object': 4, 'bbox': 4}
    >>> np.unique(flag_names(ds.object_type)).tolist()
    ['blob', 'line', 'none', 'pattern', 'rectangle']
    """
    _require_xarray()
    import xarray as xr

    if group not in (None, PAIR, INTERVENTION):
        msg = f"unknown group {group!r}; a paired split has {PAIR!r} and {INTERVENTION!r}"
        raise ConfigError(msg)
    found = open_store(store).version(version)
    reader = found[split]  # a missing split: VersionNotFoundError naming those available
    path = f"{os.fspath(store)}/{found.name}/{split}"
    if group is not None:
        reader.pairs  # noqa: B018 - raises for a version without pairs
        path += f"/{group}"
    # Not consolidated: without consolidated=False xarray looks for consolidated
    # metadata first, and warns when it falls back.
    raw = xr.open_zarr(zarr_store(path), consolidated=False, zarr_format=3)
    return raw if group == INTERVENTION else _tidy(raw)  # records: written with their dims


def _tidy(raw: xr.Dataset) -> xr.Dataset:
    """The split's arrays on the shared dimensions, attributes completed, ``bbox`` labelled.

    A version written before the shared names has one dimension name per
    array and axis; they are renamed by position, and the layout's attributes
    fill in what it lacks (stored attributes win).
    """
    import xarray as xr

    variables = {}
    for name in (f for f in FIELDS if f in raw):
        var = raw[name].variable
        attrs = {**copy.deepcopy(ARRAY_ATTRS.get(name, {})), **var.attrs}
        variables[name] = xr.Variable(dims_of(name), var.data, attrs, var.encoding)
    ds = xr.Dataset(variables, attrs=raw.attrs)
    if "object_bbox" in ds:
        labels = ds["object_bbox"].attrs.get("bbox_labels", list(BBOX_LABELS))
        ds = ds.assign_coords(bbox=("bbox", labels, {"long_name": "bounding box edge"}))
    return ds


def flag_names(codes: xr.DataArray) -> xr.DataArray:
    """Name each code of a flag array (``object_type``, ``object_colour``, ``images``).

    Parameters
    ----------
    codes : xarray.DataArray
        An array with CF ``flag_values`` and ``flag_meanings`` attributes.

    Returns
    -------
    xarray.DataArray
        Strings of the same shape and dimensions (lazy if ``codes`` is); a
        code that is not among the flag values gets ``""``.

    Raises
    ------
    ConfigError
        ``codes`` has no flag attributes (``object_subtype`` has one list per
        type: use `subtype_names`).
    """
    attrs = codes.attrs
    if "flag_values" not in attrs or "flag_meanings" not in attrs:
        hint = "; use subtype_names(ds)" if "flag_meanings_by_type" in attrs else ""
        msg = f"array {codes.name!r} has no flag_values / flag_meanings attributes{hint}"
        raise ConfigError(msg)
    return _lookup(codes, attrs["flag_values"], attrs["flag_meanings"].split())


def subtype_names(ds: xr.Dataset) -> xr.DataArray:
    """Name each object's subtype (line orientation, pattern family) from its type.

    Parameters
    ----------
    ds : xarray.Dataset
        A split from `open_split` (or ``xr.open_zarr``), with ``object_type``
        and ``object_subtype``.

    Returns
    -------
    xarray.DataArray
        Strings on ``(image, object)``: ``"horizontal"`` ... for lines,
        ``"checkerboard"`` ... for patterns, ``""`` for blobs, rectangles and
        empty slots.
    """
    import xarray as xr

    by_type = ds["object_subtype"].attrs.get(
        "flag_meanings_by_type", ARRAY_ATTRS["object_subtype"]["flag_meanings_by_type"]
    )
    types = flag_names(ds["object_type"])
    out = xr.full_like(types, "")
    for type_name, flags in by_type.items():
        names = _lookup(ds["object_subtype"], flags["flag_values"], flags["flag_meanings"].split())
        out = xr.where(types == type_name, names, out)
    return out.rename("object_subtype_name")


def _lookup(codes: xr.DataArray, values: list[int], names: list[str]) -> xr.DataArray:
    import xarray as xr

    table = np.asarray(names)

    def lookup(block: np.ndarray) -> np.ndarray:
        out = np.full(block.shape, "", table.dtype)
        for value, name in zip(values, table, strict=True):
            out[block == value] = name
        return out

    named = xr.apply_ufunc(
        lookup, codes, dask="parallelized", output_dtypes=[table.dtype], keep_attrs=False
    )
    return named.rename(f"{codes.name}_name")
