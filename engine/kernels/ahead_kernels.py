"""The kernels a first run compiles, in the order it needs them, with their argument types: recorded from a
cold run of README line 1 by `python -m sdsynth.kernels.ahead --record` (do not edit by hand; the module
`ahead` says how the list is used)."""

# ruff: noqa: E501

KERNELS: list[tuple[str, str, str]] = [
    (
        "sdsynth.kernels.csr",
        "build_csr",
        "(Array(int32, 2, 'C', False, aligned=True), Array(int32, 2, 'C', False, aligned=True), Array(int64, 2, 'C', False, aligned=True), Array(int32, 2, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.kernels.chacha",
        "next_u64",
        "(Array(uint32, 1, 'C', False, aligned=True),)",
    ),
    (
        "sdsynth.protect.dp.kernels",
        "add_discrete_gaussian",
        "(Array(int64, 1, 'C', False, aligned=True), Array(uint32, 1, 'C', False, aligned=True), int64, int64, int64)",
    ),
    (
        "sdsynth.kernels.counting",
        "table_add",
        "(Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.protect.dp.percentile",
        "_exponential_mechanism",
        "(Array(uint32, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64)",
    ),
    (
        "sdsynth.protect.dp.kernels",
        "_bounded_counts",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), int64, int64, int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.protect.dp.kernels",
        "generate_candidates",
        "(Array(int64, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64, int64)",
    ),
    (
        "sdsynth.protect.dp.kernels",
        "_sensitivities_and_counts",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), int64, int64, int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.protect.dp.kernels",
        "_bound_contributions",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), int64, int64, int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.protect.dp.postprocess",
        "_missing_parents",
        "(Array(int32, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64)",
    ),
    (
        "sdsynth.protect.dp.postprocess",
        "_normalize",
        "(Array(int32, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64)",
    ),
    (
        "sdsynth.kernels.counting",
        "table_lookup",
        "(Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.synth.calibrated.fitting_kernels",
        "fit_to_margins",
        "(Array(float64, 1, 'C', False, aligned=True), Array(bool, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), float64, int64, float64)",
    ),
    (
        "sdsynth.synth.calibrated.drawing_kernels",
        "_sample_range",
        "(int64, int64, int64, Array(int64, 1, 'C', False, aligned=True), bool, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 2, 'C', False, aligned=True), Array(int64, 2, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 2, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint32, 1, 'C', False, aligned=True), Array(int32, 1, 'C', False, aligned=True), Array(int32, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int16, 2, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.synth.calibrated.fitting_kernels",
        "calibration_factors",
        "(Array(int16, 2, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, float64, float64)",
    ),
    (
        "sdsynth.synth.calibrated.balancing_kernels",
        "balance_selection",
        "(Array(int16, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.kernels.counting",
        "_count_csr",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), int64, int64, int64, int64, int64, Array(uint64, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.kernels.counting",
        "dense_items",
        "(Array(int64, 1, 'C', False, aligned=True), int64, int64, int64, int64, Array(uint64, 2, 'C', False, aligned=True), int64, int64)",
    ),
    (
        "sdsynth.synth.calibrated.coverage_kernels",
        "pick_seeds",
        "(Array(int16, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.synth.calibrated.coverage_kernels",
        "insert_least_harm",
        "(Array(int16, 2, 'C', False, aligned=True), Array(int16, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True), int64, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.synth.calibrated.coverage_kernels",
        "rebalance_keeping",
        "(Array(int16, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int16, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(float64, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True), int64, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.kernels.csr",
        "_gather_rows",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.synth.agg_kernels",
        "_build_batch_serial",
        "(int64, int64, int64, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(uint64, 2, 'C', False, aligned=True), int64, float64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), bool, int64, int64, Array(uint32, 1, 'C', False, aligned=True), int64, Array(uint32, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.kernels.counting",
        "_analyse_csr",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), int64, int64, int64, int64, int64, Array(uint64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, Array(int32, 1, 'C', False, aligned=True), int64, Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True))",
    ),
    (
        "sdsynth.evaluation.profile",
        "_record_codes",
        "(Array(int64, 1, 'C', True, aligned=True), Array(int32, 1, 'C', True, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(bool, 1, 'C', False, aligned=True), int64)",
    ),
    (
        "sdsynth.kernels.marginal_counts",
        "_add_dense",
        "(Array(int64, 1, 'C', False, aligned=True), Array(int32, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 2, 'C', False, aligned=True), Array(int64, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64, int64)",
    ),
    (
        "sdsynth.evaluation.propensity",
        "_grow",
        "(Array(int32, 2, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), Array(int64, 1, 'C', False, aligned=True), int64)",
    ),
]
