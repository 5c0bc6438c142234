"""Feast's CLI on the backends the environment selects: ``python -m r2p.features ARGS...``.

Runs ``feast -c feature_repo -f $R2P_HOME/feast/feature_store.yaml ARGS...`` after writing the
resolved configuration (:func:`r2p.features.repo_config.resolved_yaml`), so ``feast plan``,
``apply`` and ``materialize`` act on the same registry and online store as the pipeline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from r2p.features.repo_config import REPO, resolved_yaml


def main(argv: list[str] | None = None) -> None:
    """Replace this process with Feast's CLI on the resolved configuration."""
    feast = Path(sys.executable).parent / "feast"
    args = [str(feast), "-c", str(REPO), "-f", str(resolved_yaml()), *(argv or sys.argv[1:])]
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
