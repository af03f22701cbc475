"""examples/litellm_proxy: the proxy's config loads its callback the way the proxy does."""

from __future__ import annotations

from pathlib import Path

import litellm
import yaml
from aurea_client.litellm import AureaCallback, deployment_model
from litellm.proxy.types_utils.utils import get_instance_fn

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "litellm_proxy" / "config.yaml"


def test_the_proxy_config_names_an_aurea_callback_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUREA_URL", "http://aurea.internal:8000")
    monkeypatch.setenv("AUREA_TOKEN", "aurea_recorder")
    monkeypatch.setenv("AUREA_SELECT_TOKEN", "aurea_reader")
    config = yaml.safe_load(CONFIG.read_text())
    # The proxy resolves "module.instance" beside the config file, as here.
    callback = get_instance_fn(config["litellm_settings"]["callbacks"], str(CONFIG))
    try:
        assert isinstance(callback, AureaCallback)
        assert callback.base_url == "http://aurea.internal:8000"
        assert callback.reporter.token == "aurea_recorder"
        assert callback.select_token == "aurea_reader"
    finally:
        callback.close(0)


def test_the_proxy_config_gives_each_deployment_of_the_group_its_own_aurea_name(monkeypatch):
    config = yaml.safe_load(CONFIG.read_text())
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(name, "not-used")
    router = litellm.Router(model_list=config["model_list"], **config["router_settings"])
    names = [deployment_model(d) for d in router.model_list if d["model_name"] == "chat"]
    assert len(names) == len(set(names)) == 3
