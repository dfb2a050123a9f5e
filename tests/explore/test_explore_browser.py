"""The explorer page in a real browser (Playwright driving Debian's chromium): clicks and the counts they show,
checked against SQL on release.duckdb; the address; the keyboard; 32 columns; the combination-count fallback; the
served page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from explore_sql import ReleaseSql

from sdsynth.explore import explorer_payload, page_data, render_page
from sdsynth.explore.server import ExplorerServer


def wait(page: Any) -> None:
    """Until the page shows the counts of the selection in its address."""
    page.wait_for_function(
        "document.documentElement.dataset.state === 'ready' && "
        "document.documentElement.dataset.selection === location.hash.slice(1)"
    )


def value(page: Any, column: str, text: str) -> Any:
    return page.locator(f'button.value[data-column="{column}"][data-value="{text}"]')


def click(page: Any, column: str, text: str) -> None:
    value(page, column, text).click()
    wait(page)


def shown(page: Any) -> dict[str, Any]:
    """What the page says of the selection: its synthetic count and its released count with the error figures."""
    synthetic = page.locator("#synthetic-count")
    aggregate = page.locator("#aggregate-count")
    figures = {k: aggregate.get_attribute(f"data-{k}") for k in ("count", "margin", "lower", "upper")}
    return {
        "synthetic": int(synthetic.get_attribute("data-count")) if synthetic.get_attribute("data-count") else None,
        "synthetic_text": synthetic.inner_text(),
        "released": {k: float(v) for k, v in figures.items() if v is not None},
        "released_text": aggregate.inner_text(),
        "status": aggregate.get_attribute("data-status"),
        "error_text": page.locator("#aggregate-error").inner_text(),
        "note": page.locator("#count-note").inner_text(),
    }


def released_figures(row: tuple[Any, ...] | None, mode: str) -> dict[str, float] | None:
    if row is None:
        return None
    if mode == "dp":
        return {"count": float(row[0]), "margin": float(row[1])}
    return {"count": float(row[0]), "lower": float(row[1]), "upper": float(row[2])}


def bars(page: Any, column: str) -> dict[str, int]:
    """The synthetic count each value element of a column carries (`data-count`), hidden ones included."""
    found = page.evaluate(
        "column => [...document.querySelectorAll('button.value')].filter(b => b.dataset.column === column)"
        ".map(b => [b.dataset.value, Number(b.dataset.count || 0)])",
        column,
    )
    return {k: n for k, n in found if n}


@pytest.mark.parametrize("fixture", ["dp_release", "kanon_release"])
def test_clicks_show_the_counts_sql_gives(request: pytest.FixtureRequest, fixture: str, page: Any) -> None:
    release = request.getfixturevalue(fixture)
    sql = ReleaseSql(release)
    try:
        page.goto((release / "explore.html").as_uri())
        wait(page)
        record_count = sql.con.execute("SELECT record_count FROM release_parameters").fetchone()[0]
        now = shown(page)
        assert now["synthetic"] == len(sql.records)
        assert now["released"]["count"] == record_count and now["status"] == "released"

        gender = sql.frequent("gender", 2)
        part = sql.frequent("IP_Gender", 1)[0]
        region = sql.frequent("UN_COE_Region", 1)[0]
        steps: list[tuple[str, str]] = [("gender", gender[0]), ("IP_Gender", part), ("gender", gender[1]),
                                        ("UN_COE_Region", region)]  # fmt: skip
        selection: dict[str, list[str]] = {}
        for column, text in steps:
            click(page, column, text)
            selection.setdefault(column, []).append(text)
            now = shown(page)
            assert now["synthetic"] == sql.synthetic_count(selection) == sql.sql_synthetic_count(selection), selection
            assert now["synthetic_text"] == f"{now['synthetic']:,}"
            for name in ("gender", "IP_Gender", "majorityStatus"):
                assert bars(page, name) == dict(sql.bars(selection, name)), (name, selection)
            combos = [[(c, v) for c, v in [("gender", g), *[(c, v) for c, vs in selection.items() if c != "gender"
                                                             for v in vs]]] for g in selection["gender"]]  # fmt: skip
            rows = [released_figures(sql.released(combo), sql.mode) for combo in combos]
            if len(combos[0]) > sql.R:
                assert now["status"] == "too-long" and now["released_text"] == "not released"
                assert "synthetic records only" in now["note"]
            elif None in rows:
                assert now["status"] == "not-released" and "synthetic records only" in now["note"]
            elif len(rows) == 1:
                assert now["released"] == rows[0], selection
                assert now["released_text"] == f"{rows[0]['count']:,.0f}"
                if sql.mode == "dp":
                    assert now["error_text"].startswith(f"± {rows[0]['margin']:,.1f}")
                else:
                    assert f"between {rows[0]['lower']:,.0f} and {rows[0]['upper']:,.0f}" in now["error_text"]
            else:  # several values of one column: the sum of the released counts it spans
                assert now["released"]["count"] == sum(r["count"] for r in rows)  # type: ignore[index]
                assert "sum of the 2 released counts" in now["note"]
        assert [value(page, c, t).get_attribute("aria-pressed") for c, t in steps] == ["true"] * len(steps)
        click(page, "gender", gender[0])  # a second click removes the value
        assert value(page, "gender", gender[0]).get_attribute("aria-pressed") == "false"
        page.click("#reset")
        wait(page)
        assert shown(page)["synthetic"] == len(sql.records) and page.evaluate("location.hash") == ""
    finally:
        sql.close()


def test_the_address_reproduces_the_selection(dp_release: Path, page: Any, browser: Any) -> None:
    sql = ReleaseSql(dp_release)
    try:
        page.goto((dp_release / "explore.html").as_uri())
        wait(page)
        parts = sql.frequent("IP_ageBroad", 2)
        click(page, "IP_ageBroad", parts[0])
        click(page, "IP_ageBroad", parts[1])
        click(page, "majorityStatus", sql.frequent("majorityStatus", 1)[0])
        link, before = page.url, shown(page)
        assert "#" in link and "IP_ageBroad=" in link
        other = browser.new_context(bypass_csp=True).new_page()
        other.goto(link)
        wait(other)
        assert shown(other) == before
        pressed = other.locator('button.value[aria-pressed="true"]')
        assert sorted(pressed.nth(i).get_attribute("data-value") for i in range(pressed.count())) == sorted(
            [*parts, sql.frequent("majorityStatus", 1)[0]]
        )
        other.goto((dp_release / "explore.html").as_uri() + "#gender=Nobody&majorityStatus=" + parts[0])
        wait(other)
        assert "gender = Nobody" in other.locator("#link-note").inner_text()
        assert shown(other)["synthetic"] == len(sql.records)
        other.context.close()
    finally:
        sql.close()


def test_the_page_works_from_the_keyboard(kanon_release: Path, page: Any) -> None:
    page.goto((kanon_release / "explore.html").as_uri())
    wait(page)
    for _ in range(60):  # Tab from the top of the page to the first value
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('value')"):
            break
    focused = page.evaluate("[document.activeElement.dataset.column, document.activeElement.dataset.value]")
    assert focused[0] == "yearRegister"
    page.keyboard.press("Enter")
    wait(page)
    assert value(page, *focused).get_attribute("aria-pressed") == "true"
    assert page.locator("#chips button").count() == 1
    page.keyboard.press(" ")
    wait(page)
    assert value(page, *focused).get_attribute("aria-pressed") == "false"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    assert page.locator("label[for=search]").inner_text() and page.locator("label[for=order]").inner_text()
    labelled = page.evaluate("[...document.querySelectorAll('section.column')].every(s => "
                             "document.getElementById(s.getAttribute('aria-labelledby')))")  # fmt: skip
    assert labelled


def test_thirty_two_columns_stay_readable(wide_release: Path, page: Any) -> None:
    page.goto((wide_release / "explore.html").as_uri())
    wait(page)
    cards = page.locator("section.column")
    assert cards.count() == 32
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    widths = [cards.nth(i).bounding_box()["width"] for i in range(cards.count())]
    assert min(widths) >= 300
    page.fill("#search", "question_17")
    assert page.locator("section.column:visible").count() == 1
    assert "1 of 32 columns" in page.locator("#shown-columns").inner_text()
    page.fill("#search", "")
    sql = ReleaseSql(wide_release)
    try:
        column = "survey_question_31_answer"
        click(page, column, sql.frequent(column, 1)[0])
        assert shown(page)["synthetic"] == sql.synthetic_count({column: sql.frequent(column, 1)})
    finally:
        sql.close()


def test_a_large_release_gets_combination_counts(kanon_release: Path, tmp_path: Path, page: Any) -> None:
    """Past the size limit (made tiny here) the page holds synthetic counts of combinations up to a depth it states;
    within it the counts equal SQL, beyond it the page says to serve."""
    con = duckdb.connect(str(kanon_release / "release.duckdb"), read_only=True)
    try:
        payload = explorer_payload(con, max_bytes=30_000)
    finally:
        con.close()
    depth = payload["combinations"]["depth"]
    path = tmp_path / "large.html"
    path.write_text(render_page(payload), encoding="utf-8")
    sql = ReleaseSql(kanon_release)
    try:
        page.goto(path.as_uri())
        wait(page)
        assert f"up to {depth} attributes" in page.locator("#source-note").inner_text()
        picks = [(c, sql.frequent(c, 1)[0]) for c in ("gender", "majorityStatus", "UN_COE_Region", "IP_Gender")]
        selection: dict[str, list[str]] = {}
        for n, (column, text) in enumerate(picks, start=1):
            click(page, column, text)
            selection[column] = [text]
            now = shown(page)
            if n <= depth:
                assert now["synthetic"] == sql.synthetic_count(selection)
                if n < depth:
                    assert bars(page, "yearRegister") == dict(sql.bars(selection, "yearRegister"))
            else:
                assert now["synthetic"] is None and now["synthetic_text"] == "–"
                assert "--serve" in now["note"]
                break
    finally:
        sql.close()


def test_the_served_page_counts_any_depth(server: ExplorerServer, dp_release: Path, page: Any) -> None:
    sql = ReleaseSql(dp_release)
    try:
        page.goto(server.url)
        wait(page)
        assert page_data(page.content())["source"] == "server"
        selection: dict[str, list[str]] = {}
        for column in ("gender", "IP_Gender", "majorityStatus", "UN_COE_Region"):  # 4 > R: synthetic only
            text = sql.frequent(column, 1)[0]
            click(page, column, text)
            selection[column] = [text]
            now = shown(page)
            assert now["synthetic"] == sql.synthetic_count(selection)
        assert bars(page, "IP_ageBroad") == dict(sql.bars(selection, "IP_ageBroad"))
        assert now["status"] == "too-long"
        click(page, "UN_COE_Region", selection["UN_COE_Region"][0])
        del selection["UN_COE_Region"]
        row = released_figures(sql.released([(c, v[0]) for c, v in selection.items()]), "dp")
        assert shown(page)["released"] == (row or {})
    finally:
        sql.close()
