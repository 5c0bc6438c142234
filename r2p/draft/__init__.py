"""``r2p init``: a commented pipeline config drafted from a sample table.

``read`` reads a CSV (any common delimiter, quoted headers) or Parquet file the way
``r2p land`` reads it too (``read_table``); ``infer`` decides roles, types, bounds, the split
policy, gates and a small model, each with its reason; ``write`` renders the commented YAML
and checks that the loader accepts it before writing; ``cli`` is the command.
"""
