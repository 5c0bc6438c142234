"""The four alert routes of DESIGN §6, as a type.

A :class:`Route` is who hears an alert; the pipeline config's ``alerts`` section
(:class:`r2p.config.schema.Alerts`) says which Airflow connection each route is. Every sender
gets its connection id from here, through an outcome of :mod:`r2p.alerts.outcomes`: no
module picks a connection or a route by its name.
"""

from __future__ import annotations

import enum

from r2p.config.schema import Alerts


class Route(enum.StrEnum):
    """Who hears an alert; each value is the name of its field in ``Alerts``."""

    DATA_ENGINEERING = "data_engineering"
    ON_CALL = "on_call"
    ML_OWNERS = "ml_owners"
    TEAM = "team"

    def conn_id(self, alerts: Alerts) -> str:
        """The Airflow connection id of this route in ``alerts``."""
        return getattr(alerts, self.value)


def conn_ids(alerts: Alerts) -> dict[Route, str]:
    """Every route's connection id in ``alerts``."""
    return {route: route.conn_id(alerts) for route in Route}
