"""`sdsynth release`, `evaluate`, `budget show` and `query` over a release: what is public, what stays private,
the manifest, the ledger, --config and --dry-run, and the report in a real browser."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest
from helpers import assert_clean_error, invoke

from sdsynth._utils.files import MARKER
from sdsynth.encode.tables import encode
from sdsynth.engine import IngestOptions, count_combinations, load_schema
from sdsynth.protect.dp.random import DpRandom
from sdsynth.sample_data import generate_ctdc

ROWS = 2345  # an odd size that no other number in the outputs is likely to equal
PUBLIC_FILES = {"aggregates.tsv", "aggregates.parquet", "synthetic.csv", "synthetic.parquet", "release.duckdb",
                "report.html", "explore.html", "codebook.yaml", "manifest.json"}  # fmt: skip
SENSITIVE_ONLY_METRICS = {"original_records", "k_marginal", "leaked_combinations", "unique_exact_matched",
                          "propensity_mse", "mean_tvd_1", "risky_identifiable_pct"}  # fmt: skip


@pytest.fixture(scope="module")
def sensitive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "cases.csv"
    generate_ctdc(ROWS, seed=11).write_csv(path)
    return path


@pytest.fixture
def seeded_dp(monkeypatch: pytest.MonkeyPatch) -> None:
    """TEST ONLY: reproducible DP noise, so assertions about the noisy record count are deterministic."""
    monkeypatch.setattr(
        DpRandom, "from_os_entropy", classmethod(lambda cls, streams=1: cls._seeded_for_tests(5, streams))
    )


def _release(sensitive: Path, tmp_path: Path, *extra: object):  # type: ignore[no-untyped-def]
    return invoke("release", sensitive, "--schema", "ctdc-victim-perpetrator", "--out", tmp_path / "pub",
                  "--private-out", tmp_path / "priv", "-r", "2", *[str(e) for e in extra])  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dp_release_public_and_private(sensitive: Path, tmp_path: Path, seeded_dp: None) -> None:
    result = _release(sensitive, tmp_path, "--dp", "--epsilon", "4", "--seed", "3")
    assert result.exit_code == 0, result.output
    pub, priv = tmp_path / "pub", tmp_path / "priv"
    assert {p.name for p in pub.iterdir()} == PUBLIC_FILES | {MARKER}
    assert str(ROWS) not in result.output and f"{ROWS:,}" not in result.output  # logs never print true counts

    manifest = json.loads((pub / "manifest.json").read_text())
    assert set(manifest["files"]) == PUBLIC_FILES - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(pub / name) and entry["bytes"] == (pub / name).stat().st_size
    assert manifest["parameters"]["epsilon"] == 4.0 and "delta" in manifest["parameters"]
    public_report, private_report = (pub / "report.html").read_text(), (priv / "report.html").read_text()
    assert "recomputed from this release" in public_report and "evaluation_details" not in public_report
    assert "evaluation_details/</code>, private like it" in private_report

    con = duckdb.connect(str(pub / "release.duckdb"), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"aggregates", "synthetic", "release_info", "release_levels", "evaluation"} <= tables
    info = dict(con.execute("SELECT key, value FROM release_info").fetchall())
    released = int(info["record_count"])
    assert released != ROWS  # the record count is noised (deterministic here: seeded test noise)
    assert manifest["record_count"] == released and info["release_id"] == manifest["release_id"]
    metrics = {r[0] for r in con.execute("SELECT metric FROM evaluation").fetchall()}
    assert metrics and not metrics & SENSITIVE_ONLY_METRICS
    assert con.execute("SELECT count(*) FROM synthetic").fetchone()[0] == released  # type: ignore[index]
    # every length's margin of error follows from σ_k and Δ_k as released
    rows = con.execute(
        "SELECT DISTINCT a.length, a.noise_sd, a.margin_of_error_95, l.sigma, l.sensitivity "
        "FROM aggregates_with_error a JOIN release_levels l USING (length)"
    ).fetchall()
    con.close()
    assert {r[0] for r in rows} == {1, 2}
    for _, sd, moe, sigma, delta in rows:
        assert sd == pytest.approx(sigma * delta**0.5) and moe == pytest.approx(1.96 * sd, abs=0.051)

    private = json.loads((priv / "evaluation.json").read_text())
    assert private["private"] is True and private["summary"]["original_records"] == ROWS
    assert "k_marginal" in private["summary"]
    fingerprint = json.loads((priv / "input_fingerprint.json").read_text())
    assert fingerprint["sha256"] == _sha256(sensitive) and fingerprint["records"] == ROWS
    public_text = "".join(
        p.read_text(errors="ignore") for p in pub.iterdir() if p.suffix in {".json", ".yaml", ".html"}
    )
    assert fingerprint["sha256"] not in public_text


def test_kanon_release_never_shows_rare_combinations(sensitive: Path, tmp_path: Path) -> None:
    result = _release(sensitive, tmp_path, "--resolution", "5", "--seed", "1", "-q")
    assert result.exit_code == 0, result.output
    options = IngestOptions(schema=load_schema("ctdc-victim-perpetrator"))
    true = count_combinations(encode(sensitive, options), 2)
    aggregates = pl.read_parquet(tmp_path / "pub" / "aggregates.parquet")
    assert (aggregates.get_column("count") >= 5).all()
    synthetic = pl.read_csv(tmp_path / "pub" / "synthetic.csv", infer_schema=False)
    counts = count_combinations(encode(synthetic, options), 2)
    sensitive_counts = true.as_dict()
    for key in counts.as_dict():
        assert sensitive_counts.get(key, 0) >= 5, key  # no synthetic combination is rare in the sensitive data
    assert json.loads((tmp_path / "pub" / "manifest.json").read_text())["parameters"]["resolution"] == 5


def test_dry_run_computes_and_writes_nothing(sensitive: Path, tmp_path: Path) -> None:
    result = _release(sensitive, tmp_path, "--dp", "--epsilon", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "pub").exists() and not (tmp_path / "priv").exists()
    assert "record count: ρ_N = " in result.output and "memory" in result.output and "σ_k" in result.output
    assert str(ROWS) not in result.output and f"{ROWS:,}" not in result.output


def test_dry_run_reports_input_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("yearRegister,gender\n2019,Male\n1999,Martian\n")
    result = invoke("release", bad, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1", "--dry-run",
                    "--out", tmp_path / "p", "--private-out", tmp_path / "q")  # fmt: skip
    assert result.exit_code == 2 and "bad.csv" in result.output


def test_dry_run_fails_on_everything_the_run_would_refuse(sensitive: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    frame = pl.read_csv(sensitive, infer_schema=False)
    frame.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("Atlantis")).otherwise(pl.col("UN_COE_Region"))
                       .alias("UN_COE_Region")).write_csv(bad)  # fmt: skip
    (tmp_path / "taken").mkdir()
    book = tmp_path / "budget.duckdb"
    from sdsynth.protect import ledger

    ledger.record(book, "cases", "r0", 3.0, 1e-6, "earlier")
    result = invoke("release", bad, "--schema", "ctdc-victim-perpetrator", "--dp", "--epsilon", "1", "--dry-run",
                    "--out", tmp_path / "missing" / "pub", "--private-out", tmp_path / "taken",
                    "--ledger", book, "--dataset-id", "cases", "--budget", "3.5")  # fmt: skip
    assert result.exit_code == 1, result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 4, errors
    assert "parent folder of the output does not exist" in errors[0] and "taken: already exists" in errors[1]
    assert "3 cell(s) violate the schema" in errors[2] and "above the budget 3.5" in errors[3]
    assert "the release would stop (4 problem(s) above)" in result.stderr
    assert [e.status for e in ledger.entries(book)] == ["spent"]  # a dry run reserves nothing


def test_config_file_with_command_line_override(sensitive: Path, tmp_path: Path) -> None:
    config = tmp_path / "release.toml"
    config.write_text(
        f'input = "{sensitive}"\nschema = "ctdc-victim-perpetrator"\ndp = true\nepsilon = 1.5\nreporting-length = 2\n'
        f'out = "{tmp_path / "pub"}"\nprivate_out = "{tmp_path / "priv"}"\nseed = 4\n'
    )
    result = invoke("release", "--config", config, "--epsilon", "2", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "pub" / "manifest.json").read_text())
    assert manifest["parameters"]["epsilon"] == 2.0 and manifest["parameters"]["reporting_length"] == 2
    config.write_text("epsilon = 1\nepsilom = 2\n")
    result = invoke("release", "--config", config)
    assert result.exit_code == 2 and "unknown option 'epsilom'" in result.output


def test_ledger_refuses_before_reading_the_data(sensitive: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.duckdb"
    first = _release(sensitive, tmp_path, "--dp", "--epsilon", "2", "--ledger", ledger, "--dataset-id", "ctdc",
                     "--budget", "3", "-q")  # fmt: skip
    assert first.exit_code == 0, first.output
    unreadable = tmp_path / "garbage.csv"
    unreadable.write_bytes(b"\xff\xfe\x00 not a table")
    second = invoke("release", unreadable, "--dp", "--epsilon", "2", "--ledger", ledger, "--dataset-id", "ctdc",
                    "--budget", "3", "--out", tmp_path / "pub2", "--private-out", tmp_path / "priv2")  # fmt: skip
    assert_clean_error(second, "would bring it to 4, above the budget 3")
    assert not (tmp_path / "pub2").exists()
    shown = invoke("budget", "show", "--ledger", ledger)
    assert shown.exit_code == 0 and "ctdc" in shown.output and "Σ ε_i" in shown.output
    con = duckdb.connect(str(ledger), read_only=True)
    rows = con.execute("SELECT dataset_id, epsilon FROM releases").fetchall()
    con.close()
    assert rows == [("ctdc", 2.0)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dp", "--epsilon", "1", "--ledger", "l.duckdb"], "--ledger needs --dataset-id"),
        (["--dp", "--epsilon", "1", "--budget", "3"], "need --ledger"),
        (["--resolution", "5", "--ledger", "l.duckdb", "--dataset-id", "x"], "records DP releases"),
        (["--dp", "--epsilon", "1", "--resolution", "5"], "not both"),
    ],
)
def test_release_option_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("release", "--out", tmp_path / "a", "--private-out", tmp_path / "b", *args)
    assert_clean_error(result, message)


def test_query_note_for_combinations_longer_than_r(sensitive: Path, tmp_path: Path) -> None:
    assert _release(sensitive, tmp_path, "--resolution", "5", "-q").exit_code == 0
    pub = tmp_path / "pub"
    longer = invoke("query", pub, "SELECT count(*) FROM aggregates WHERE length = 3")
    assert longer.exit_code == 0 and "at most 2 attributes" in longer.output
    fine = invoke("query", pub, "SELECT count(*) FROM aggregates WHERE length = 2")
    assert fine.exit_code == 0 and "at most" not in fine.output
    pinned = invoke("query", pub, "SELECT count FROM aggregates WHERE gender = 'Male' AND majorityStatus = 'Adult' "
                                  "AND isForcedLabour = '1'")  # fmt: skip
    assert "fixes 3 columns" in pinned.output
    text = invoke("query", pub, "SELECT * FROM synthetic WHERE gender = 'length = 9'")
    assert "at most" not in text.output  # string literals are not SQL


def test_query_hints_for_multi_value_columns(sensitive: Path, tmp_path: Path) -> None:
    assert _release(sensitive, tmp_path, "--resolution", "5", "-q").exit_code == 0
    pub = tmp_path / "pub"
    reversed_parts = invoke("query", pub, "SELECT count FROM aggregates_by_source_column WHERE IP_Gender='Male;Female'")
    assert reversed_parts.exit_code == 0
    assert "'Male;Female' never matches: ask IP_Gender = 'Female;Male'" in reversed_parts.stderr
    assert "list_has_all(string_split(IP_Gender, ';'), ['Female', 'Male'])" in reversed_parts.stderr
    both = invoke("query", pub, "SELECT count(*) AS n FROM synthetic "
                                "WHERE list_has_all(string_split(IP_Gender, ';'), ['Female', 'Male'])")  # fmt: skip
    assert both.exit_code == 0 and "never matches" not in both.stderr
    fine = invoke("query", pub, "SELECT count FROM aggregates_by_source_column WHERE IP_Gender='Female;Male'")
    assert "never matches" not in fine.stderr
    exploded = invoke("query", pub, "SELECT count FROM aggregates WHERE IP_Gender = 'Female;Male'")
    assert exploded.exit_code == 2
    assert "IP_Gender is a multi-value column: in aggregates each part is its own column" in exploded.stderr
    assert "IP_Gender_Female = '1'" in exploded.stderr


def test_query_note_when_synthetic_answers_what_aggregates_release(sensitive: Path, tmp_path: Path) -> None:
    assert _release(sensitive, tmp_path, "--resolution", "5", "-q").exit_code == 0  # R = 2
    pub = tmp_path / "pub"
    pair = invoke("query", pub, 'SELECT gender, "majorityStatus", count(*) FROM synthetic GROUP BY ALL')
    assert pair.exit_code == 0 and "involves 2 column(s), no more than the reporting length 2" in pair.stderr
    assert "`aggregates_with_error` adds the interval holding the true count" in pair.stderr
    assert pair.stdout.count("involves") == 0  # the note goes to stderr, the result stays clean for scripts
    three = invoke("query", pub, "SELECT count(*) FROM synthetic WHERE gender = 'Male' AND majorityStatus = 'Adult' "
                                 "AND isForcedLabour = '1'")  # fmt: skip
    assert "involves" not in three.output  # longer than R: only synthetic can answer it
    total = invoke("query", pub, "SELECT count(*) FROM synthetic WHERE 'gender' <> ''")
    assert "involves" not in total.output  # no column asked (a string literal is not a column)
    released = invoke("query", pub, "SELECT gender, count FROM aggregates WHERE length = 1 AND gender IS NOT NULL")
    assert "involves" not in released.output


def test_evaluate_command(sensitive: Path, tmp_path: Path) -> None:
    assert _release(sensitive, tmp_path, "--resolution", "5", "-q", "--seed", "2").exit_code == 0
    out = tmp_path / "ev"
    result = invoke("evaluate", "--sensitive", sensitive, "--synthetic", tmp_path / "pub" / "synthetic.csv",
                    "--aggregates", tmp_path / "pub", "--schema", "ctdc-victim-perpetrator", "-r", "2", "-k", "5",
                    "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "evaluation.json").read_text())["summary"]
    assert summary["leaked_combinations"] == 0 and summary["fabricated_combinations"] == 0
    assert 0 < summary["k_marginal"] <= 1000 and "k-marginal" in result.output
    assert (out / "report.html").exists() and (out / "aggregates_report.html").exists()
    assert {p.stem for p in (out / "evaluation_details").iterdir()} >= {
        "combinations",
        "k_marginal_pairs",
        "by_length",
        "subsample_baseline",
    }


def _self_contained(html: str) -> bool:
    lowered = html.lower()
    return not any(f'{attr}="http' in lowered or f"{attr}='http" in lowered for attr in ("src", "href")) and (
        "url(http" not in lowered and "@import" not in lowered
    )


def test_report_renders_in_headless_chromium(sensitive: Path, tmp_path: Path) -> None:
    assert _release(sensitive, tmp_path, "--dp", "--epsilon", "4", "-q").exit_code == 0
    for report in (tmp_path / "pub" / "report.html", tmp_path / "priv" / "report.html"):
        assert _self_contained(report.read_text())
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    report = tmp_path / "priv" / "report.html"
    quiet = ["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", *quiet, f"--user-data-dir={tmp_path / 'p'}"]
    dom = subprocess.run([*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 4 and "k-marginal" in dom.stdout
    shot = tmp_path / "report.png"
    done = subprocess.run([*flags, "--window-size=1200,2400", f"--screenshot={shot}", report.as_uri()],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and shot.stat().st_size > 20_000  # a blank page compresses to a few kB


@pytest.mark.parametrize("method", ["row-seeded", "aggregate-seeded"])
def test_k_anonymity_states_the_synthesis_trade_off(sensitive: Path, tmp_path: Path, method: str) -> None:
    result = _release(sensitive, tmp_path, "--resolution", "5", "--seed", "1", "--method", method)
    assert result.exit_code == 0, result.output
    synthetic = duckdb.connect(str(tmp_path / "pub" / "release.duckdb"), read_only=True)
    made, released = synthetic.execute(
        "SELECT (SELECT count(*) FROM synthetic), (SELECT CAST(value AS BIGINT) FROM release_info "
        "WHERE key = 'record_count')"
    ).fetchone()  # type: ignore[misc]
    synthetic.close()
    report = (tmp_path / "pub" / "report.html").read_text()
    if method == "row-seeded":
        assert made > 1.2 * released  # CTDC-like data: consolidation adds records
        assert f"row-seeded made {made / released:.1f}× the released record count ({made:,} for {released:,})" in (
            result.stderr
        )
        assert "aggregate-seeded at the same k" in result.stderr
        assert "of any length, matches at least 5 real records" in report
    else:
        assert made == released and "made" not in result.stderr
        assert "drawn from these aggregates alone" in report and "not guaranteed" in report
