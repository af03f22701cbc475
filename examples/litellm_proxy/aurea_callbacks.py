"""The callback the proxy's config.yaml names (``callbacks: aurea_callbacks.aurea``).

It reads AUREA_URL, AUREA_TOKEN (records: role recorder or admin) and AUREA_SELECT_TOKEN
(selections: role reader or admin; default AUREA_TOKEN) from the environment.
"""

from aurea_client.litellm import AureaCallback

aurea = AureaCallback(select_timeout=0.3, select_params={"window": "24h"})
