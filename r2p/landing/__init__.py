"""The producer's side of the landing contract: partitions, files and the contract, written
last (``r2p land``, and the sample generator through the same writer)."""
