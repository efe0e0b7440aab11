"""Model classes and the stores that keep them.

Importing the package registers the stores it ships (see
models.storage.register_store_type), so that any store URL works wherever
models are used, in worker processes too.
"""

from models import datastore_store  # noqa: F401  (registers datastore://)
from models import sqlite_store  # noqa: F401  (registers paths, sqlite://)
