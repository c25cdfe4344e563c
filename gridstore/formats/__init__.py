"""Other file formats: the seed's npz layout, its metadata.json, and export to them."""

from gridstore.formats.export import export_version
from gridstore.formats.metadata_json import create_metadata, save_metadata
from gridstore.formats.npz import load_corpus, save_corpus

__all__ = ["create_metadata", "export_version", "load_corpus", "save_corpus", "save_metadata"]
