"""Serving the champion: the model loader (and, later, the HTTP/gRPC server)."""
