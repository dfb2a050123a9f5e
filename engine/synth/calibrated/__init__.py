"""The calibrated sampling law: synthetic records from released aggregates that keep empty cells and multi-value
parts at their released rates (post-processing only; docs/synthesis.md describes the law and its evidence, step by
step, in the numbering used here).

The reference law (docs/method.md, "Aggregate-seeded") never samples absence and resets its budget when the target
exceeds it, so records come out denser than real ones. Here every expanded column (a single-value column, or one
part of a multi-value column) is a categorical variable whose categories are its values *and empty*, and records
are drawn column by column from conditional tables. One module per step:

1. `model`: joint tables of column sets from the released counts, completed from their margins where combinations
   may have been left out of the release.
2. `network`: a greedy Bayesian network on those tables (and the parent sets of the free order).
3. `drawing`: records drawn column by column, never forming an unreleased combination (kernels: `drawing_kernels`).
4. `pilot`: the column order, fixed or free, chosen on a pilot by its fit to the release (`fit`).
5. `calibration`: weights fitted to the released single-column shares, and the weighted draw of each batch from a
   larger pool (kernels: `fitting_kernels`, which also completes step 1's tables).
6. `balancing`: the selection exchanged with the rest of its pool towards the released 1- and 2-way tables
   (kernels: `balancing_kernels`).
7. `coverage`: released combinations a batch lacks, brought in by dense and packed seeded records (kernels:
   `coverage_kernels`).

`sampler` puts the steps together into output batches; `parameters` holds every tuning value, passed to each step;
`streams` numbers the ChaCha20 streams. Everything is a function of the aggregates, the parameters and a
post-processing seed: no sensitive data, no privacy cost.
"""

from __future__ import annotations

from sdsynth.synth.calibrated.balancing import BalanceTables, balance_tables
from sdsynth.synth.calibrated.calibration import calibration_weights, pool_factor
from sdsynth.synth.calibrated.drawing import to_records
from sdsynth.synth.calibrated.fit import release_fit
from sdsynth.synth.calibrated.model import ReleaseModel, _regroup, release_model
from sdsynth.synth.calibrated.network import Network, build_network, build_networks
from sdsynth.synth.calibrated.parameters import DEFAULT_PARAMETERS, CalibratedParameters, coverage_share
from sdsynth.synth.calibrated.sampler import CalibratedSampler, calibrated_batches

# The former module-level names still read elsewhere (bench/law_limits.py, docstrings): the defaults, read-only.
# To change a value, pass a CalibratedParameters.
COVER_SHARE = DEFAULT_PARAMETERS.cover_share
POOL_FACTOR = DEFAULT_PARAMETERS.pool_factor
_calibration_weights = calibration_weights
_to_records = to_records

__all__ = [
    "COVER_SHARE",
    "DEFAULT_PARAMETERS",
    "POOL_FACTOR",
    "BalanceTables",
    "CalibratedParameters",
    "CalibratedSampler",
    "Network",
    "ReleaseModel",
    "_calibration_weights",
    "_regroup",
    "_to_records",
    "balance_tables",
    "build_network",
    "build_networks",
    "calibrated_batches",
    "calibration_weights",
    "coverage_share",
    "pool_factor",
    "release_fit",
    "release_model",
    "to_records",
]
