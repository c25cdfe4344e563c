"""Reading a store lazily: versions, splits, filtered views, chunked arrays, batches, torch adapters."""

from gridstore.read.arrays import LazyArray
from gridstore.read.split import SplitReader
from gridstore.read.store import StoreReader, VersionReader, open_store
from gridstore.read.view import View

__all__ = ["LazyArray", "SplitReader", "StoreReader", "VersionReader", "View", "open_store"]
