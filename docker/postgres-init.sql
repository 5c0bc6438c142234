-- MLflow's tracking store lives beside Airflow's metadata database.
CREATE DATABASE mlflow OWNER airflow;
