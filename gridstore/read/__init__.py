"""Reading a store lazily: versions, splits, chunked arrays, batches, torch adapters."""

from gridstore.read.store import LazyArray, SplitReader, StoreReader, VersionReader, open_store

__all__ = ["LazyArray", "SplitReader", "StoreReader", "VersionReader", "open_store"]
