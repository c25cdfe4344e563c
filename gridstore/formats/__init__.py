"""Other file formats: the seed's npz layout and its metadata.json."""
