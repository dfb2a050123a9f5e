"""The manifest of a release: its id, every parameter, and the size and SHA-256 of every public file, so a reader
can check that what they hold is what was published."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sdsynth._version import __version__
from sdsynth.protect.aggregates import Aggregates

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, release_id: str, created_at: str, aggs: Aggregates, synthesis: dict[str, Any]) -> None:
    """`manifest.json` over every file already in `folder` (write it last)."""
    manifest = {
        "release_id": release_id,
        "software": f"sdsynth {__version__}",
        "created_at": created_at,
        "parameters": dict(aggs.parameters),
        "record_count": aggs.record_count,
        "synthesis": synthesis,
        "files": {
            p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": sha256(p)}
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
