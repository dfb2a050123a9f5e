"""The evaluation report: one self-contained HTML file (inline SVG charts, no scripts, no network).

Charts are drawn with matplotlib into SVG strings and embedded. The same builder makes the private report (synthetic
against sensitive data) and the public one (synthetic against released aggregates): it shows what the evaluation
holds and says which kind it is.
"""

from __future__ import annotations

import html
import io
from typing import Any

import polars as pl

from sdsynth._version import __version__
from sdsynth.evaluation.evaluate import Evaluation

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;color:#1b1f24;
line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.banner{padding:.6rem 1rem;border-radius:6px;margin:1rem 0} .private{background:#fff1f0;border:1px solid #ffa39e}
.public{background:#f0f7ff;border:1px solid #91caff} .warn{background:#fffbe6;border:1px solid #ffe58f}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th{background:#f6f8fa} td:first-child,th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:.8rem} .card{border:1px solid #d0d7de;border-radius:6px;padding:.6rem 1rem;
min-width:10rem} .card .v{font-size:1.4rem;font-weight:600} .card .k{color:#57606a;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem} .chart{flex:1 1 30rem}
"""


def _svg(fig: Any) -> str:
    """The figure as inline SVG, with no creation time (a public report carries one date, not the time each chart
    was drawn) and element ids from a fixed salt, so the same figure always gives the same text."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "sdsynth"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _figure(width: float = 6.0, height: float = 3.2) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _bar_chart(labels: list[str], values: list[float], title: str, ylabel: str) -> str:
    fig, ax = _figure()
    ax.bar(labels, values, color="#4c78a8")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if len(labels) > 8:  # many buckets: slanted labels that do not overlap
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    return _svg(fig)


def _subsample_card(pct: float | None) -> tuple[str, str]:
    if pct is None:
        return ("scores like a … sample", "—")
    if pct == 0:
        return ("k-marginal below a 1 % sample of the real data", "< 1 %")
    return ("scores like a sample of the real data of", f"{pct:.0f} %")


def _single_attribute_chart(frame: pl.DataFrame, original_label: str, limit: int = 40) -> str:
    top = frame.sort("original", descending=True).head(limit)
    names = [f"{c}: {v}" for c, v in zip(top["column"], top["value"], strict=True)]
    fig, ax = _figure(7.5, max(3.0, 0.22 * len(names) + 1))
    y = list(range(len(names)))
    ax.barh([i + 0.2 for i in y], top["original"].to_list(), height=0.4, label=original_label, color="#4c78a8")
    ax.barh([i - 0.2 for i in y], top["synthetic"].to_list(), height=0.4, label="synthetic", color="#f58518")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    ax.set_title(f"Single attributes: {original_label} vs synthetic (top {len(names)})")
    return _svg(fig)


def _subsample_chart(subsample: pl.DataFrame, score: float) -> str:
    fig, ax = _figure()
    ax.plot([100 * f for f in subsample["fraction"]], subsample["k_marginal"].to_list(), marker="o",
            label="p % sample of the real data")  # fmt: skip
    ax.axhline(score, color="#f58518", label=f"synthetic data ({score:.0f})")
    ax.set_xlabel("sample size (% of the real records)")
    ax.set_ylabel("k-marginal score (1000 = identical)")
    ax.set_title("k-marginal against the subsample baseline")
    ax.legend(loc="lower right")
    return _svg(fig)


def _table(frame: pl.DataFrame, digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows():
        cells = []
        for v in row:
            text = (
                ""
                if v is None
                else f"{v:,.{digits}f}"
                if isinstance(v, float)
                else f"{v:,}"
                if isinstance(v, int)
                else str(v)
            )
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _cards(items: list[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )


def _chosen_pairs_in_words(privacy: dict[str, Any]) -> str:
    """With --column-pairs tree: which pairs of columns the release holds, and why so few."""
    pairs = privacy.get("released_column_pairs")
    if not pairs:
        return ""
    return (
        f" Pairs of values are published for {len(pairs)} chosen pairs of columns only (themselves chosen with the "
        "same protection, listed in release_info as released_column_pairs): fewer pairs, less noise on each."
    )


def privacy_in_words(privacy: dict[str, Any]) -> str:
    """The privacy parameters, explained for a reader who is not a specialist."""
    mode = privacy.get("mode")
    if mode == "dp":
        eps, delta = privacy.get("epsilon"), privacy.get("delta")
        variance = privacy.get("variance_record_count")
        count_sd = f" (standard deviation {float(variance) ** 0.5:,.1f})" if variance else ""
        return (
            f"<p>This release is <b>differentially private</b> with ε = {eps} and δ = {delta:.3g}. Whatever any one "
            "person's record contains, including whether it is in the data at all, the published numbers would have "
            f"been almost as likely without it: no outcome becomes more than e<sup>ε</sup> ≈ {_exp(eps)} times more "
            f"likely, except with probability δ. Every count carries random noise (standard deviation per "
            f"combination length in the table below); the number of records is noisy too{count_sd}. Smaller ε means "
            f"more noise and stronger protection.{_chosen_pairs_in_words(privacy)}</p>"
        )
    if mode == "k-anonymity":
        k = privacy.get("resolution")
        method = privacy.get("synthesis_method")
        synthetic = (
            f"The synthetic records were drawn from these aggregates alone (aggregate-seeded): their counts of up to "
            f"{privacy.get('reporting_length', 'R')} attributes stay close to the released ones and their number is "
            f"the released record count, but a longer combination inside a synthetic record is not guaranteed to "
            f"match {k} real records (the records were never read)."
            if method == "aggregate-seeded"
            else f"Every combination inside a synthetic record, of any length, matches at least {k} real records "
            f"({method or 'row-seeded'}): nothing rare leaks, but the synthetic table may hold more records than the "
            "data and short combinations drift from the released counts (aggregate-seeded synthesis, at the same k, "
            "stays much closer to them)."
        )
        return (
            f"<p>This release is <b>k-anonymous</b> with k = {k}: every published combination of attributes matches at "
            f"least {k} real records; counts are rounded down to multiples of {k}. {synthetic} This protects against "
            "singling out people by rare combinations, but unlike differential privacy it gives no formal bound "
            "against attackers with side information.</p>"
        )
    return "<p>No privacy parameters were given.</p>"


def _exp(eps: Any) -> str:
    import math

    try:
        return f"{math.exp(float(eps)):,.1f}"
    except (TypeError, ValueError, OverflowError):
        return "?"


def render_report(evaluation: Evaluation, title: str, levels: pl.DataFrame | None = None) -> str:
    """The HTML report of an evaluation (see the module docstring)."""
    s = evaluation.summary
    private = evaluation.private
    original = "real data" if private else "released aggregates"
    banner = (
        '<div class="banner private"><b>PRIVATE</b> — every number in this report is computed from the sensitive '
        "data. Do not publish it.</div>"
        if private
        else '<div class="banner public"><b>Public</b> — this report compares the synthetic records with the released '
        "aggregates only; it contains nothing the release does not already reveal.</div>"
    )
    cards = [
        ("synthetic records", f"{s.get('synthetic_records', 0):,}"),
        (
            f"{'real' if private else 'released'} records",
            f"{s.get('original_records', s.get('released_records', 0)):,}",
        ),
        ("combinations kept", f"{100 - s.get('suppressed_pct', 0):.1f} %"),
        ("fabricated (vs original)", f"{s.get('fabricated_pct', 0):.2f} %"),
        ("mean absolute error", f"{s.get('mean_absolute_error', 0):,.1f}"),
    ]
    if private:
        cards += [
            ("k-marginal (1000 = identical)", f"{s.get('k_marginal', 0):.0f}"),
            _subsample_card(s.get("subsample_equivalent_pct")),
            ("mean TVD 1 / 2 / 3-way", " / ".join(f"{s.get(f'mean_tvd_{k}', 0):.3f}" for k in (1, 2, 3))),
            ("propensity MSE (0 = indistinguishable)", f"{s.get('propensity_mse', 0):.4f}"),
            ("unique real records matched", f"{s.get('unique_exact_matched_pct', 0):.2f} %"),
        ]
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>sdsynth {__version__}</p>", banner, _cards(cards)]
    if evaluation.warnings:
        parts.append('<div class="banner warn"><b>Quality warnings</b><ul>'
                     + "".join(f"<li>{html.escape(w)}</li>" for w in evaluation.warnings) + "</ul></div>")  # fmt: skip
    parts.append("<h2>Privacy</h2>" + privacy_in_words(evaluation.privacy))
    if levels is not None and levels.height:
        parts.append(_table(levels))
    by_len = evaluation.sds.by_length
    by_bucket = evaluation.sds.by_bucket.sort("bucket")
    charts = [
        _bar_chart([str(v) for v in by_len["length"]], by_len["count_preservation"].to_list(),
                   "Preservation by combination length", "mean min(synthetic / original, 1)"),
        _bar_chart([str(v) for v in by_len["length"]], [v or 0 for v in by_len["mean_absolute_error"].to_list()],
                   "Mean absolute error by combination length", "count difference"),
        _bar_chart([f"≤{b}" for b in by_bucket["bucket"]], by_bucket["count_preservation"].to_list(),
                   "Preservation by synthetic count", "mean preservation"),
    ]  # fmt: skip
    if private and evaluation.subsample is not None:
        charts.append(_subsample_chart(evaluation.subsample, float(s.get("k_marginal", 0))))
    parts.append("<h2>How well counts are preserved</h2><div class='charts'>"
                 + "".join(f"<div class='chart'>{c}</div>" for c in charts) + "</div>")  # fmt: skip
    parts.append(
        f"<p>Compared with the {original}: combinations of up to {int(by_len['length'].max() or 0)} "
        "attributes, as SDS counts them (an empty cell is absent; multi-value cells count each part).</p>"
    )
    parts.append(_table(by_len))
    parts.append("<h2>Single attributes</h2>" + _single_attribute_chart(evaluation.single_attributes, original))
    if private and evaluation.tvd is not None:
        worst = evaluation.tvd.filter(pl.col("order") <= 2).sort("tvd", descending=True).head(10)
        parts.append("<h2>Largest differences between marginals</h2><p>Total variation distance (0 = identical, 1 = "
                     "disjoint) on the tables as loaded: empty is a category, a multi-value cell is one category.</p>"
                     + _table(worst))  # fmt: skip
    if private and evaluation.records_analysis is not None:
        parts.append("<h2>Disclosure risk in the real data</h2><p>Records holding a unique or rare (fewer than k) "
                     "combination, by the shortest such combination (counts rounded down to k).</p>"
                     + _table(evaluation.records_analysis))  # fmt: skip
    parts.append(
        "<p>Every number above can be recomputed from the detail tables written next to this report "
        "(<code>evaluation_details/</code>, private like it).</p>"
        if private
        else "<p>Every number above can be recomputed from this release: the <code>aggregates</code> and "
        "<code>synthetic</code> tables of <code>release.duckdb</code> (or <code>aggregates.parquet</code> and "
        "<code>synthetic.parquet</code>).</p>"
    )
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>")  # fmt: skip
