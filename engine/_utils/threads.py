"""Thread behaviour of the Numba kernels, set before any parallel kernel starts its thread pool.

Numba's default threading layer here is GNU OpenMP, whose idle threads spin while they wait for the next parallel
region. Aggregate-seeded synthesis opens thousands of short parallel regions; on a machine where other processes
compete for the cores, spinning threads steal the time slices the working ones need (measured: 17 k records took
30 s instead of 1 s with one other busy process on 2 cores). Passive waiting costs little when the machine is idle.
A value the user has set is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
