"""Moved to the ``aurea-client`` package (clients/python): ``from aurea_client import AureaClient``.

Kept so that ``from aurea.client import AureaClient`` goes on working; it re-exports the same
objects, and loads nothing of the server.
"""

from aurea_client import BufferedReporter  # noqa: F401
from aurea_client.client import *  # noqa: F403
from aurea_client.client import __all__ as _client_all

__all__ = [*_client_all, "BufferedReporter"]
