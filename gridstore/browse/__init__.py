"""``gridstore browse``: a read-only local web server to look at a store.

Pages: the store (its versions), a version (metadata and statistics), a split
(a paged grid of images with ``where`` filters, shuffling and counts), one
image (instance map and boxes) and the diff of two versions. See
`gridstore.browse.server` for the server and docs/internals.md for its design.
"""

from gridstore.browse.server import BrowseServer, make_server, serve

__all__ = ["BrowseServer", "make_server", "serve"]
