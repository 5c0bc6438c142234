"""The assets the DAGs hand over between each other: features in, champion out."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias


def features_asset(pipeline: str) -> Asset:
    """The asset a data run emits once its interval is in Feast (extra: run type, interval)."""
    return Asset(name=f"features/{pipeline}", uri=f"r2p://features/{pipeline}")


def features_alias(pipeline: str) -> AssetAlias:
    """What ``materialize`` declares: it adds the ``features/<pipeline>`` event through the
    alias, so a backfill run that is not the newest can leave it out (one training run)."""
    return AssetAlias(name=f"features/{pipeline}/published")


def champion_asset(pipeline: str) -> Asset:
    """The asset a promotion (or rollback, or force) emits: the model server reloads on it."""
    return Asset(name=f"model/{pipeline}/champion", uri=f"r2p://model/{pipeline}/champion")
