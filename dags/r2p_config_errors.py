"""No DAGs: a broken pipeline config becomes this file's Airflow DAG import error.

``r2p_pipelines.py`` builds the DAGs of every config that loads and leaves the broken ones
out; this file raises one ``BrokenConfigs`` naming each broken config's file, line and key
(``airflow dags list-import-errors``, the UI's import errors, ``r2p ready``). A file of its
own, because Airflow marks every DAG of a file that fails to import stale: the good
pipelines' DAGs stay in ``r2p_pipelines.py`` and keep running. It parses clean (and defines
no DAG, airflow.sdk) when every config loads.
"""

from __future__ import annotations

from r2p.config.loader import BrokenConfigs, load_each

_cfgs, _broken = load_each()
if _broken:
    raise BrokenConfigs(_broken)
