# One image for every r2p process (Airflow components, Celery worker, model server).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends curl git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/r2p
COPY pyproject.toml constraints.txt README.md ./
COPY r2p ./r2p
COPY plugins ./plugins
RUN pip install pip==25.3 && pip install -c constraints.txt -e .
COPY dags ./dags
COPY configs ./configs
COPY feature_repo ./feature_repo
COPY docs ./docs
ENV AIRFLOW_HOME=/opt/airflow R2P_HOME=/opt/r2p-home \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/r2p/dags AIRFLOW__CORE__PLUGINS_FOLDER=/opt/r2p/plugins
USER 50000
