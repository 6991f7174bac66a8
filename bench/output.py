"""Where the benches put what they measured: their JSON figures and their plots, written the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["save_figure", "write_json"]


def write_json(path: Path, figures: Any) -> None:
    """The bench's figures as indented JSON (the directory made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")


def save_figure(fig: Any, path: Path, *, dpi: int = 80) -> None:
    """Lay out, save and close a matplotlib figure (the directory made if needed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
