"""Export for service: SavedModel + frozen GraphDef .pb + contract, validated and parity-gated."""
