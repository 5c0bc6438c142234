"""Feast definitions, declarative and derived from every pipeline config in ``configs/``.

For each pipeline, in dependency order: Entity -> FileSource -> FeatureView (one per feature
source, plus the label source, offline only) -> FeatureService (one per model, versioned).
See r2p/features/definitions.py for the naming rules.
"""

from r2p.config import load_all
from r2p.features.definitions import feast_objects

_SUFFIX = {"Entity": "entity", "FeatureView": "fv", "FeatureService": "fs"}

for _cfg in load_all():
    for _obj in feast_objects(_cfg):
        globals()[f"{_obj.name}_{_SUFFIX[type(_obj).__name__]}"] = _obj
