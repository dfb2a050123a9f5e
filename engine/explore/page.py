"""The explorer page: one self-contained HTML file (inline CSS and JavaScript, the data as JSON in the page; no
network), built from a release's database.

The page's code is package data (`assets/explore.html`, `explore.css`, `explore.js`); this module fills in the data.
What the page embeds: the columns and their values, the released aggregates and the figures that qualify them, and
the synthetic records as distinct dictionary-encoded rows with their weights — or, when those would pass
`MAX_EMBEDDED_BYTES`, synthetic counts of combinations up to a stated depth (`combinations`). `--serve` builds the
page without either and answers counts from the database (`server`).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from sdsynth.explore.data import (
    MAX_EMBEDDED_BYTES,
    ReleaseFacts,
    embedded_records,
    profile_size,
    release_facts,
    released_combinations,
    synthetic_profiles,
)

if TYPE_CHECKING:
    import duckdb

EXPLORE_HTML = "explore.html"
DATA_ELEMENT_ID = "release-data"
Source = Literal["auto", "records", "combinations", "server"]


def facts_payload(facts: ReleaseFacts) -> dict[str, Any]:
    """What every page holds: the columns, their values and the figures that qualify the released counts."""
    return {
        "format": 1,
        "mode": facts.mode,
        "reporting_length": facts.reporting_length,
        "record_count": facts.record_count,
        "record_count_error": facts.record_count_error,
        "levels": {str(n): level for n, level in sorted(facts.levels.items())},
        "parameters": facts.parameters,
        "synthetic_records": facts.synthetic_records,
        "columns": [
            {
                "name": c.name,
                "description": c.description,
                "delimiter": c.delimiter,
                "values": list(c.values),
                "released": [r is not None for r in c.released],
            }
            for c in facts.columns
        ],
    }


def explorer_payload(
    con: duckdb.DuckDBPyConnection, source: Source = "auto", max_bytes: int = MAX_EMBEDDED_BYTES
) -> dict[str, Any]:
    """The page's data. `auto`: the synthetic records when they fit in `max_bytes`, else synthetic counts of
    combinations; `server`: neither (a page served by `serve_explorer` asks for counts)."""
    facts = release_facts(con)
    payload = facts_payload(facts)
    if source == "server":
        payload["source"] = source
        return payload
    profiles = synthetic_profiles(con, facts)  # both sources start from the distinct rows: one GROUP BY
    if source == "auto":
        source = "records" if profile_size(profiles) <= max_bytes else "combinations"
    payload["source"] = source
    payload["aggregates"] = released_combinations(con, facts)
    if source == "records":
        payload["records"] = embedded_records(facts, profiles)
    else:
        from sdsynth.explore.combinations import combination_counts

        payload["combinations"] = combination_counts(facts, profiles, max_bytes)
    return payload


def _asset(name: str) -> str:
    return (resources.files("sdsynth.explore") / "assets" / name).read_text(encoding="utf-8")


def embedded_json(payload: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: no `<` at all (so no `</script>` or `<!--`), line separators escaped."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(payload: dict[str, Any]) -> str:
    """The HTML page for a payload of `explorer_payload`."""
    page = _asset("explore.html")
    page = page.replace("/*{{STYLE}}*/", _asset("explore.css"))
    page = page.replace("/*{{SCRIPT}}*/", _asset("explore.js").replace("</", "<\\/"))
    return page.replace("{{DATA}}", embedded_json(payload))


def page_data(html: str) -> dict[str, Any]:
    """The data embedded in an explorer page (for tests and the privacy audit)."""
    start_tag = f'<script type="application/json" id="{DATA_ELEMENT_ID}">'
    start = html.index(start_tag) + len(start_tag)
    return json.loads(html[start : html.index("</script>", start)])


def build_page(con: duckdb.DuckDBPyConnection, source: Source = "auto", max_bytes: int = MAX_EMBEDDED_BYTES) -> str:
    """The explorer page of the release behind `con` (a connection to its `release.duckdb`)."""
    return render_page(explorer_payload(con, source, max_bytes))
