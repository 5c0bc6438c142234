"""Jandi for Airflow: an incoming-webhook hook, its message type and an outbox.

The notifier the DAGs carry is :class:`r2p.alerts.failure.FailureNotifier`: it picks the
route's connection per outcome, deduplicates, and sends through :class:`JandiHook`.

Everything here is an ordinary installed package (``r2p_jandi``); the ``.airflowignore`` beside
this file keeps Airflow's plugin loader from also importing these files as top-level modules.
"""

from __future__ import annotations

from r2p_jandi.errors import JandiError
from r2p_jandi.hook import JandiHook
from r2p_jandi.message import JandiMessage
from r2p_jandi.outbox import read_outbox

__all__ = ["JandiError", "JandiHook", "JandiMessage", "read_outbox"]
