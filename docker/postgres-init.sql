-- MLflow's tracking store and Feast's SQL registry live beside Airflow's metadata database.
CREATE DATABASE mlflow OWNER airflow;
CREATE DATABASE feast OWNER airflow;
