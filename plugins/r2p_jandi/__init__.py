"""Jandi notifications for Airflow: an incoming-webhook hook, a notifier and an outbox.

Everything here is an ordinary installed package (``r2p_jandi``); the ``.airflowignore`` beside
this file keeps Airflow's plugin loader from also importing these files as top-level modules.
"""

from __future__ import annotations

from r2p_jandi.errors import JandiError
from r2p_jandi.hook import JandiHook
from r2p_jandi.message import JandiMessage
from r2p_jandi.notifier import JandiNotifier
from r2p_jandi.outbox import read_outbox

__all__ = ["JandiError", "JandiHook", "JandiMessage", "JandiNotifier", "read_outbox"]
