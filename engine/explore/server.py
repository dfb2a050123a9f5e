"""`sdsynth explore RELEASE --serve`: the explorer page with counts answered from the release database, for selections
of any depth and releases too large to embed.

The server listens on 127.0.0.1 only and answers two requests: `GET /` (the page) and `POST /api/counts` with a
selection (`{"selection": {"column": ["value", ...]}}`). Column names are checked against the release's and every
value is a bound parameter: there is no way to send SQL. The connection is the one it is given — `sdsynth explore`
passes the locked read-only connection of `sdsynth query` (`bundle.database.open_release_readonly`) — and one lock
serialises its use across request threads.
"""

from __future__ import annotations

import itertools
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from sdsynth._utils.duckdb_files import sql_identifier
from sdsynth.errors import ParameterError
from sdsynth.explore.data import ExplorerColumn, ReleaseFacts, release_facts
from sdsynth.explore.page import facts_payload, render_page

if TYPE_CHECKING:
    import duckdb

HOST = "127.0.0.1"
MAX_REQUEST_BYTES = 1 << 20
MAX_COMBINATIONS = 4096  # as the page: an OR selection spans the product of its columns' values


class SelectionCounts:
    """Counts of a selection from the release database: synthetic records (the selection, and per value the bars of
    the page) and the released counts of the combinations it spans, through parameterised SQL only."""

    def __init__(self, con: duckdb.DuckDBPyConnection, facts: ReleaseFacts | None = None) -> None:
        self.con = con
        self.facts = facts or release_facts(con)
        self.by_name = {c.name: i for i, c in enumerate(self.facts.columns)}
        self.lock = threading.Lock()

    def parse(self, selection: Any) -> list[set[int]]:
        """The selection as value indices per column; ParameterError for anything not in the release."""
        if not isinstance(selection, dict):
            raise ParameterError("`selection` must map column names to lists of values")
        chosen: list[set[int]] = [set() for _ in self.facts.columns]
        for name, values in selection.items():
            if name not in self.by_name:
                raise ParameterError(f"no column {name!r} in this release")
            column = self.facts.columns[self.by_name[name]]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ParameterError(f"the values of {name!r} must be a list of strings")
            for value in values:
                if value not in column.values:
                    raise ParameterError(f"{name!r} has no value {value!r} in this release")
                chosen[self.by_name[name]].add(column.values.index(value))
        return chosen

    def _condition(self, column: ExplorerColumn, chosen: set[int]) -> tuple[str, list[Any]]:
        name = sql_identifier(column.name)
        values = [column.values[v] for v in sorted(chosen)]
        if not column.multi_value:
            return f"{name} IN ({', '.join('?' for _ in values)})", values
        tests = [f"list_contains(string_split({name}, ?), ?)" for _ in values]
        return " AND ".join(tests), [p for v in values for p in (column.delimiter, v)]

    def _where(self, chosen: list[set[int]], skip: int | None = None) -> tuple[str, list[Any]]:
        parts, params = [], []
        for c, (column, values) in enumerate(zip(self.facts.columns, chosen, strict=True)):
            if values and c != skip:
                sql, bound = self._condition(column, values)
                parts.append(f"({sql})")
                params += bound
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    def _bars(self, c: int, chosen: list[set[int]]) -> tuple[list[int], int]:
        """Per value of column c, synthetic records holding it that match the rest of the selection (a single-value
        column's own OR-ed values aside, as on the page); and those with no value in c."""
        column = self.facts.columns[c]
        name = sql_identifier(column.name)
        if not column.multi_value:
            where, params = self._where(chosen, skip=c)
            rows = self.con.execute(f"SELECT {name}, count(*) FROM synthetic{where} GROUP BY ALL", params).fetchall()
        else:
            where, params = self._where(chosen)
            parts = f"CASE WHEN {name} IS NULL THEN [NULL::VARCHAR] ELSE string_split({name}, ?) END"  # NULL: no value
            rows = self.con.execute(
                f"SELECT part, count(*) FROM (SELECT {parts} AS parts FROM synthetic{where}), unnest(parts) AS t(part) "
                "GROUP BY ALL",
                [column.delimiter, *params],
            ).fetchall()
        found = dict(rows)
        return [int(found.get(v, 0)) for v in column.values], int(found.get(None, 0))

    def released(self, chosen: list[set[int]]) -> list[dict[str, float] | None] | None:
        """The released count (and its error) of every combination the selection spans; None where not released.
        None when the selection is empty, longer than R or spans too many combinations."""
        groups = []
        for column, values in zip(self.facts.columns, chosen, strict=True):
            tests = [column.aggregate_test(v) for v in sorted(values)]
            if column.multi_value:
                groups += [[t] for t in tests]
            elif tests:
                groups.append(tests)
        if not groups or len(groups) > self.facts.reporting_length:
            return None
        if len(list(itertools.islice(itertools.product(*groups), MAX_COMBINATIONS + 1))) > MAX_COMBINATIONS:
            return None
        dp = self.facts.mode == "dp"
        extra = "noise_sd, margin_of_error_95" if dp else "lower_bound, upper_bound"
        source = "aggregates_with_error" if self.facts.has_error_view else "aggregates"
        entries: list[dict[str, float] | None] = []
        for combination in itertools.product(*groups):
            if any(t is None for t in combination):
                entries.append(None)
                continue
            tests = [t for t in combination if t is not None]
            where = " AND ".join(f"{sql_identifier(c)} = ?" for c, _ in tests)
            select = f'"count", {extra}' if self.facts.has_error_view else '"count"'
            rows = self.con.execute(f"SELECT {select} FROM {source} WHERE length = ? AND {where}",
                                   [len(tests), *(v for _, v in tests)]).fetchall()  # fmt: skip
            entries.append(self._entry(rows[0], len(tests)) if rows else None)
        return entries

    def _entry(self, row: tuple[Any, ...], length: int) -> dict[str, float]:
        level = self.facts.levels.get(length, {})
        if self.facts.mode == "dp":
            sd, margin = (row[1], row[2]) if len(row) > 1 else (level.get("sd", 0.0), level.get("margin", 0.0))
            return {"count": float(row[0]), "sd": float(sd), "margin": float(margin)}
        k = level.get("resolution", 1.0)
        lower, upper = (row[1], row[2]) if len(row) > 1 else (row[0], row[0] + k - 1)
        return {"count": float(row[0]), "lower": float(lower), "upper": float(upper)}

    def counts(self, selection: Any) -> dict[str, Any]:
        """The page's answer for a selection: synthetic count, bars, records with no value, released entries."""
        chosen = self.parse(selection)
        with self.lock:
            where, params = self._where(chosen)
            total = self.con.execute(f"SELECT count(*) FROM synthetic{where}", params).fetchall()[0][0]
            bars, missing = zip(*(self._bars(c, chosen) for c in range(len(self.facts.columns))), strict=True)
            released = self.released(chosen)
        return {"synthetic": int(total), "bars": list(bars), "missing": list(missing),
                "released": released}  # fmt: skip


class ExplorerServer:
    """The explorer on http://127.0.0.1:PORT/ (`port` 0: a free port). `serve_forever` until `shutdown`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, port: int = 0) -> None:
        self.counter = SelectionCounts(con)
        payload = facts_payload(self.counter.facts)
        payload["source"] = "server"
        page = render_page(payload).encode("utf-8")
        counter = self.counter

        class Handler(_Handler):
            pass

        Handler.page, Handler.counter = page, counter
        self.httpd = _QuietServer((HOST, port), Handler)
        Handler.allowed_hosts = frozenset({f"{HOST}:{self.port}", f"localhost:{self.port}"})

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self.httpd.shutdown()

    def close(self) -> None:
        self.httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that closes a connection early (a newer selection replaced the request) is no error; anything
        else is reported in one line, without a traceback."""
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            print(f"sdsynth explore: a request failed ({type(error).__name__})", file=sys.stderr)


class _Handler(BaseHTTPRequestHandler):
    page: bytes = b""
    counter: SelectionCounts
    allowed_hosts: frozenset[str] = frozenset()
    server_version = "sdsynth-explore"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests carry selections, which are nobody's business in a terminal log."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), "application/json")

    def _host_ok(self) -> bool:
        """Only requests addressed to this server by its loopback name (no DNS-rebound site reaches it)."""
        if self.headers.get("Host") in self.allowed_hosts:
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
        return False

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        if self.path.split("?", 1)[0] in ("/", "/explore.html"):
            self._send(HTTPStatus.OK, self.page, "text/html; charset=utf-8")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if self.path != "/api/counts":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            answer = self.counter.counts(body.get("selection", {}) if isinstance(body, dict) else None)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the request is not JSON"})
            return
        except ParameterError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, answer)
