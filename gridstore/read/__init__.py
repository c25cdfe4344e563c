"""Reading a store lazily: versions, splits, chunked arrays, batches, torch adapters."""

from gridstore.read.arrays import LazyArray
from gridstore.read.split import SplitReader
from gridstore.read.store import StoreReader, VersionReader, open_store

__all__ = ["LazyArray", "SplitReader", "StoreReader", "VersionReader", "open_store"]
