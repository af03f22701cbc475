"""The Python client for Aurea: :class:`AureaClient` (the HTTP API) and :class:`BufferedReporter`
(outcomes sent in batches from a background thread). It needs only ``requests``.

The LiteLLM integration is :mod:`aurea_client.litellm` (``pip install 'aurea-client[litellm]'``);
importing this package does not import LiteLLM.
"""

from aurea_client.client import (
    AureaClient,
    AureaError,
    AureaHTTPError,
    AuthenticationError,
    PermissionDeniedError,
    TrackedCall,
    UnavailableError,
    ValidationError,
    retry_after_seconds,
)
from aurea_client.reporter import BufferedReporter

__version__ = "0.1.0"

__all__ = [
    "AureaClient",
    "AureaError",
    "AureaHTTPError",
    "AuthenticationError",
    "BufferedReporter",
    "PermissionDeniedError",
    "TrackedCall",
    "UnavailableError",
    "ValidationError",
    "retry_after_seconds",
]
