"""What the dags-test forkserver imports once (see ``r2p.orchestration.dagtest``): the heavy
third-party libraries the tasks and Airflow's CLI import, none of which reads Airflow's or
r2p's settings at import time. Airflow and r2p itself are imported in each forked child, after
its environment is set."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # as r2p.home.airflow_env sets it

import aiohttp  # noqa: F401
import alembic  # noqa: F401
import cadwyn  # noqa: F401
import duckdb  # noqa: F401
import fastapi  # noqa: F401
import feast
import feast.infra.data_sources.mlflow.mlflow_dataset_source
import feast.infra.online_stores.redis
import feast.infra.online_stores.sqlite  # noqa: F401
import flask  # noqa: F401
import fsspec  # noqa: F401
import great_expectations  # noqa: F401
import httpx  # noqa: F401
import ibis  # noqa: F401
import jinja2  # noqa: F401
import libcst  # noqa: F401
import mlflow  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.compute
import pyarrow.csv
import pyarrow.parquet  # noqa: F401
import pydantic_settings  # noqa: F401
import pygments  # noqa: F401
import rich  # noqa: F401
import sklearn.metrics  # noqa: F401
import sqlalchemy  # noqa: F401
import sqlglot  # noqa: F401
import starlette.testclient  # noqa: F401
import structlog  # noqa: F401
import tensorflow  # noqa: F401
import torch  # noqa: F401
import upath  # noqa: F401
import werkzeug  # noqa: F401
