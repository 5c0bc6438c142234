"""Airflow glue: the DAG factory, the landing sensor, and thin task wrappers over the stages."""
