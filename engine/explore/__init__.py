"""The release explorer: a self-contained HTML page (`explore.html`) on which an analyst picks attribute values and
compares the synthetic records with the released aggregates, and a local server that answers any selection from the
release database (`sdsynth explore --serve`).

The explorer reads a release only through a DuckDB connection it is given (the bundle writer's, or the locked
read-only connection of `sdsynth query`): it is post-processing of public files.
"""

from sdsynth.explore.data import MAX_EMBEDDED_BYTES, ReleaseFacts, release_facts
from sdsynth.explore.page import EXPLORE_HTML, build_page, explorer_payload, page_data, render_page

__all__ = [
    "EXPLORE_HTML",
    "MAX_EMBEDDED_BYTES",
    "ReleaseFacts",
    "build_page",
    "explorer_payload",
    "page_data",
    "release_facts",
    "render_page",
]
