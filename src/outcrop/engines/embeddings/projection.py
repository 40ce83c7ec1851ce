"""Giving a 384-dimensional embedding the size a Bedrock model promises (256 … 1536).

Bedrock clients store vectors in indexes sized for the model they call (Titan v2: 1024 by
default, or 256/512 when asked; Titan v1 and Cohere v4: 1536; Cohere v3: 1024), so the local
model's 384-d unit vectors are mapped, with one fixed matrix per size, so that similarity
survives:

* **More dimensions (512, 1024, 1536): exact.** ``y = Q x`` with ``Q`` (Dx384) having
  orthonormal columns (``QᵀQ = I``), so ``y·y' = xᵀQᵀQx' = x·x'``: every dot product, norm and
  cosine is unchanged, and the vector is dense like a real model's (zero-padding would also be
  exact, but leaves tell-tale zero columns).
* **Fewer dimensions (256): approximate.** ``y = P x / ‖P x‖`` with ``P`` the first 256 rows
  of a random rotation of R³⁸⁴ (a Johnson-Lindenstrauss projection onto a random 256-d
  subspace). It keeps 2/3 of every vector's energy on average; cosines move by a few hundredths
  (measured on sentence pairs: mean absolute change ≈ 0.02-0.03), so near texts stay near and
  unrelated ones far, but it is not exact: no linear map to fewer dimensions can be.

The matrices come from NumPy's legacy ``RandomState`` (its stream is frozen across NumPy
versions) with a fixed seed, orthonormalised by (reduced) QR with the sign convention fixed, so a vector
stored today matches one computed after an upgrade.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

SEED = 20261124


def _orthonormal_columns(rows: int, columns: int) -> NDArray[np.float64]:
    """A fixed (rows x columns) matrix with orthonormal columns (rows >= columns)."""
    gaussian = np.random.RandomState(SEED + rows).standard_normal((rows, columns))
    q, r = np.linalg.qr(gaussian)  # reduced QR: q is rows x columns
    return q * np.sign(np.diag(r))[None, :]


@functools.lru_cache(maxsize=8)
def matrix(native: int, target: int) -> NDArray[np.float32]:
    """The (target x native) map for one pair of sizes."""
    if target >= native:
        return np.ascontiguousarray(_orthonormal_columns(target, native), dtype=np.float32)
    rotation = _orthonormal_columns(native, native)  # square: a rotation of the native space
    return np.ascontiguousarray(rotation[:target, :], dtype=np.float32)


def project(vectors: NDArray[np.float32], target: int) -> NDArray[np.float32]:
    """Unit vectors (n x native) → unit vectors (n x target)."""
    native = vectors.shape[1]
    if target == native:
        return vectors
    out = vectors @ matrix(native, target).T
    if target < native:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out / np.maximum(norms, 1e-12)
    return out.astype(np.float32)
