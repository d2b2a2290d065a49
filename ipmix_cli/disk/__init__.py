"""Writing safely: atomic files, paths proven to lie inside their root, and the lock on an output folder."""
