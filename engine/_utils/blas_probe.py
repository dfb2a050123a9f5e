"""Skip Numba's start-up probe for scipy's BLAS, a tenth of a second of every command.

When Numba sets up its compilation target (the first kernel of a run), `numba.np.arraymath` imports
`scipy.linalg.cython_blas` to learn whether float inner products may call BLAS; importing `scipy.linalg` costs about
0.1 s. No sdsynth kernel calls `np.dot`, `np.vdot` or `np.linalg`; without the probe Numba's inner products use its
own loop (same results), and `np.dot` still finds BLAS, which Numba looks up again when it compiles one.

The finder below refuses `scipy.linalg` only while `numba.np.arraymath` is being imported, and removes itself at the
first import of `scipy.linalg` by anyone: any other code imports scipy as usual.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_PROBED = "scipy.linalg"
_PROBING_MODULE = "numba.np.arraymath"


class _SkipBlasProbe(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != _PROBED:
            return None
        sys.meta_path.remove(self)  # one look: whoever imports scipy.linalg first decides
        probing = sys.modules.get(_PROBING_MODULE)
        if probing is not None and getattr(probing.__spec__, "_initializing", False):
            raise ModuleNotFoundError(f"{_PROBED} is not probed at Numba's start (sdsynth._utils.blas_probe)")
        return None


def skip_numba_blas_probe() -> None:
    """Install the finder, unless Numba's target is already set up or scipy.linalg already imported."""
    if _PROBING_MODULE in sys.modules or _PROBED in sys.modules:
        return
    if not any(isinstance(finder, _SkipBlasProbe) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SkipBlasProbe())
