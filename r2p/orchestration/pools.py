"""Airflow pools that keep single-writer stores safe when runs overlap (backfills, reruns).

One slot each, across every DAG and run: the Feast registry and online store are written by
one ``materialize`` at a time; the promotion record, registry aliases and serving folder by
one ``promote`` or ``<pipeline>_promotion`` task at a time. ``r2p stack up`` creates them; a
scheduler without them never runs those tasks ("non-existent pool"), so create them in any
other deployment too: ``airflow pools set r2p_feast 1 "..."``.
"""

from __future__ import annotations

FEAST = "r2p_feast"
PROMOTION = "r2p_promotion"
POOLS = {
    FEAST: "Feast registry apply and online-store materialise: one writer at a time",
    PROMOTION: "promotion record, registry aliases and serving folder: one writer at a time",
}
