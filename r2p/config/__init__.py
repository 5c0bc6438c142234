"""Pipeline configuration: schema (with every default) and loader."""

from r2p.config.loader import ConfigError, load_all, load_config, load_pipeline, resolved_json
from r2p.config.schema import PipelineConfig

__all__ = [
    "ConfigError",
    "PipelineConfig",
    "load_all",
    "load_config",
    "load_pipeline",
    "resolved_json",
]
