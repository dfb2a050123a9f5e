"""The ChaCha20 streams of the calibrated law, numbered so that no two uses of the post-processing key share one.

Output record i of batch b (its pool of candidates) is stream b × pool factor × batch records + i: the streams
below start far above any record index, so each step's randomness is a function of (seed, batch) only and batches
can be drawn in any order, or on other machines. They are part of the law: renumbering one changes the records a
seed gives (tests/golden).
"""

from __future__ import annotations

PILOT_STREAM = 1 << 62  # record indices of the pilot draw: disjoint from those of the output batches
PILOT_SELECTION = 1 << 62  # selection generator of the pilot: disjoint from those of the output batches
BALANCE_STREAM = 1 << 61  # + selection index: the balancing's streams, disjoint from the records'
COVER_STREAM = 1 << 60  # + batch index × batch records + i: seeded record i of a batch (coverage)
COVER_SWAP_STREAM = 3 << 59  # + batch index: the choice of the rows the packed seeds replace
DENSE_SWAP_STREAM = COVER_SWAP_STREAM + (1 << 40)  # + batch index: the same for the dense seeds
DENSE_STREAM = 5 << 59  # + (batch index × dense draws + draw) · 2^32 + candidate: dense seed draws
REBALANCE_STREAM = BALANCE_STREAM + (1 << 55)  # + batch index: the balancing after coverage
