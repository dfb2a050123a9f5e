"""The propensity score's tree: ours (`evaluation/propensity.py`) against scikit-learn's `DecisionTreeClassifier`.

    python bench/propensity.py                       # 17 k and 500 k rows of each table
    python bench/propensity.py --rows 1000000

Two generated CTDC-like tables (seeds 1 and 2) share one dictionary per column (`profile.category_codes`), as the
evaluation codes them; each side is cut to --rows rows. Times are in-process, best of --repeats, after a warm-up
(Numba cache loaded; scikit-learn imported, whose import time is printed apart). scikit-learn is optional (the test
extra installs it); its value is printed for `random_state=0` and marked when it differs from ours, which happens
only where two splits tie exactly. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl
from _util import generated_input, print_table

from sdsynth.evaluation.profile import category_codes
from sdsynth.evaluation.propensity import propensity_mse


def _best(repeats: int, work) -> tuple[float, float]:
    """(best seconds, value) of `repeats` calls."""
    best, value = float("inf"), 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        value = work()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[17_000, 500_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        start = time.perf_counter()
        from sklearn.tree import DecisionTreeClassifier

        sklearn_import = time.perf_counter() - start
    except ImportError:
        DecisionTreeClassifier, sklearn_import = None, None
    rows_out = []
    for rows in args.rows:
        real = pl.read_parquet(generated_input(rows)).cast(pl.String).fill_null("")
        synthetic = pl.read_parquet(generated_input(rows, seed=2)).cast(pl.String).fill_null("")
        real_codes, synthetic_codes, _, _ = category_codes(real, synthetic, real.columns)
        propensity_mse(real_codes[:, :100], synthetic_codes[:, :100])  # warm-up: the cached kernel
        ours_s, ours = _best(args.repeats, lambda r=real_codes, s=synthetic_codes: propensity_mse(r, s))
        row = {"rows": f"{rows:,} + {rows:,}", "ours_s": f"{ours_s:.3f}", "ours": f"{ours:.10f}"}
        if DecisionTreeClassifier is not None:
            x = np.hstack([real_codes, synthetic_codes]).T
            y = np.concatenate([np.zeros(real_codes.shape[1]), np.ones(synthetic_codes.shape[1])])

            def fit(x=x, y=y) -> float:
                p = DecisionTreeClassifier(max_depth=6, random_state=0).fit(x, y).predict_proba(x)[:, 1]
                return float(np.mean((p - y.mean()) ** 2))

            sk_s, sk = _best(args.repeats, fit)
            same = "same" if abs(sk - ours) < 1e-12 else "differs (a tie)"
            row.update(sklearn_s=f"{sk_s:.3f}", sklearn=f"{sk:.10f} ({same})", speedup=f"{sk_s / ours_s:.1f}×")
        rows_out.append(row)
    print_table(rows_out, [("rows", "rows (real + synthetic)"), ("ours_s", "ours s"), ("ours", "ours pMSE"),
                           ("sklearn_s", "scikit-learn s"), ("sklearn", "scikit-learn pMSE"),
                           ("speedup", "speed-up")])  # fmt: skip
    if sklearn_import is not None:
        print(f"importing sklearn.tree in this process: {sklearn_import:.2f} s")


if __name__ == "__main__":
    main()
