"""r2p: research to production, from landing files to a served champion model."""

__version__ = "0.1.0"
