"""Broker configuration: `config/config.yml`, overridden by `RAFKA_*` variables, overridden by
command-line flags. Every key is declared once in `schema.py`; anything else is an error."""

from rafka.config.loader import ConfigError, load_config
from rafka.config.schema import BrokerConfig, ListenerConfig

__all__ = ["BrokerConfig", "ConfigError", "ListenerConfig", "load_config"]
