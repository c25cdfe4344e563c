"""Publishing a version for other libraries: Hugging Face parquet, dataset card, Croissant, WebDataset.

Light on import: pyarrow is loaded only when a parquet file is written
(`gridstore.publish.parquet`), and nothing here imports ``datasets``,
``mlcroissant``, ``webdataset`` or ``grain`` (the tests load the files with them).
"""

from gridstore.publish.export import FORMATS, publish_version, write_card

__all__ = ["FORMATS", "publish_version", "write_card"]
