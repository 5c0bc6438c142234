"""The Feast feature store: definitions from configs, publishing, materialisation, policy."""
