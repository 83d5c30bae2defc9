"""Point-level deletion inside a peer: forget training samples, re-distil, return a receipt.

The :class:`Deletion` part of a :class:`~clients.peer.Peer` makes the main model forget
the samples (its own method, or a replay of training without them for a plain model),
re-distils the seed so it equals the seed of a peer that never had the points, and
revokes every older seed version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from clients.errors import PeerError
from clients.learner import Learner

__all__ = ["Deletion"]


class Deletion(Learner):
    """Forgetting training samples of one peer, with a receipt per request."""

    def delete_points(self, ids: Sequence[int], request_id: str) -> dict[str, Any]:
        """Forget training samples ``ids``, re-distil the seed, and return a receipt.

        The main model forgets them with its own method (SISA: retrain the affected
        shards; certified: a Newton step; sq: subtract their sums), or, for a plain main
        model, by retraining from scratch on the remaining data, replaying the same rounds
        with the same random streams (exact). The seed is then distilled again from its
        fixed initialisation with a stream keyed by the remaining ids, so it equals the
        seed of a peer that never had the points; its version is bumped and its
        ``deletions`` name this request. Unknown ids raise :class:`PeerError`; nothing
        changes then.
        """
        wanted = tuple(sorted({int(i) for i in ids}))
        present = set(int(i) for i in self.data.train_ids)
        unknown = [i for i in wanted if i not in present]
        if not wanted or unknown:
            raise PeerError(
                f"peer {self.peer_id} cannot delete sample ids {unknown or 'none'}: "
                "they are not in its training data (never held, or already deleted)"
            )
        start = time.perf_counter()
        if self.config.debug_noop_deletion:  # claims it, forgets nothing (negative control)
            return self._noop_deletion(wanted, request_id)
        info = self._forget(wanted)
        self.model_version += 1
        digest = self._receipt_digest(request_id, wanted)
        self.deletions = (*self.deletions, digest)
        seed = self.distil_seed() if self.own_seed is not None else None
        if seed is not None:
            # every older version of this seed carries the deleted points: revoke them
            self.own_floor = seed.version
        return self._receipt(
            request_id,
            wanted,
            digest,
            None if seed is None else seed.version,
            time.perf_counter() - start,
            info,
        )

    def _receipt_digest(self, request_id: str, wanted: tuple[int, ...]) -> str:
        """The receipt id of one request: a hash of request, data owner and sample ids."""
        return hashlib.sha256(f"{request_id}|{self.key}|{wanted}".encode()).hexdigest()[:32]

    def _receipt(
        self,
        request_id: str,
        wanted: tuple[int, ...],
        digest: str,
        seed_version: int | None,
        wall_s: float,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        """The receipt of one deletion; ``info`` says how the main model forgot."""
        return {
            "request_id": request_id,
            "peer": self.peer_id,
            "epoch": self.epoch,
            "deleted": list(wanted),
            "receipt": digest,
            "new_model_version": self.model_version,
            "new_seed_version": seed_version,
            "wall_s": wall_s,
            **info,
        }

    def _noop_deletion(self, wanted: tuple[int, ...], request_id: str) -> dict[str, Any]:
        """Negative control: bump the seed version and claim the deletion, forget nothing."""
        digest = self._receipt_digest(request_id, wanted)
        self.deletions = (*self.deletions, digest)
        seed = self.own_seed
        if seed is not None:
            self.own_seed = self._signed(
                dataclasses.replace(seed, version=seed.version + 1, deletions=self.deletions)
            )
            self.own_floor = self.own_seed.version
        info: dict[str, Any] = {
            "method": "noop",
            "retrained": {},
            "certificate": "exact",
            "residual": None,
            "budget_left": None,
            "samples_processed": 0,
        }
        seed_version = None if seed is None else seed.version + 1
        return self._receipt(request_id, wanted, digest, seed_version, 0.0, info)

    def _forget(self, wanted: tuple[int, ...]) -> dict[str, Any]:
        """Remove ``wanted`` from the data and the main model; say how it was forgotten."""
        keep = ~np.isin(self.data.train_ids, np.asarray(wanted, dtype=np.int64))
        info: dict[str, Any] = {}
        if self.unlearnable:
            outcome = self._unlearnable_main().delete(wanted)
            info = {
                "method": outcome.method,
                "retrained": outcome.retrained,
                "certificate": outcome.certificate,
                "residual": outcome.residual,
                "budget_left": outcome.budget_left,
                "samples_processed": outcome.samples_processed,
            }
            if outcome.terms:
                info["certificate_terms"] = outcome.terms
        self.data = dataclasses.replace(
            self.data,
            train_x=self.data.train_x[keep],
            train_y=self.data.train_y[keep],
            train_ids=self.data.train_ids[keep],
        )
        self._train_x = torch.from_numpy(np.ascontiguousarray(self.data.train_x)).float()
        self._train_y = torch.from_numpy(np.ascontiguousarray(self.data.train_y)).long()
        if not self.unlearnable:
            rounds, self.trained_rounds = self.trained_rounds, 0
            self.main = self._new_main()
            for _ in range(rounds):
                self._train_one_round()
            info = {
                "method": "retrain",
                "retrained": {"rounds": rounds},
                "certificate": "exact",
                "residual": None,
                "budget_left": None,
                "samples_processed": rounds
                * self.config.train.samples_per_round(len(self._train_y)),
            }
        return info
