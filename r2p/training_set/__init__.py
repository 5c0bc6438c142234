"""Point-in-time-correct training sets: the PIT join, the out-of-time split, the manifest."""
