"""Per-peer Ed25519 keys: who wrote a leave notice or a deletion request, wherever it arrives.

Every peer owns an Ed25519 key; leave notices and deletion requests are signed by the peer
they concern, so no neighbour can make another neighbour drop someone else's seed, even
through a relay that TLS cannot see past. :class:`KeyRing` holds the keys (private ones
only for the peers this process speaks for) and saves them as ``keyring.json``;
:class:`PeerCredentials` is what one peer's logic signs and verifies with.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hdus_sim.wire.security.common import (
    KEYRING_FILE,
    SecurityError,
    check_peer_id,
    write_private,
)

_KEYRING_FIX: Final[str] = (
    'create one with: python -c "from hdus_sim.wire.security import KeyRing; '
    "KeyRing.generate([0, 1], seed=0).save('DIR')\""
)


class KeyRing:
    """Per-peer Ed25519 keys: private keys of the peers this process speaks for, public for all.

    Why: leave notices and deletion requests travel through relays, where the TLS identity
    of the connection is the relay's, not the author's. A signature by the peer the notice
    concerns proves its author wherever it arrives. Public keys are pinned: once a peer's
    key is known, :meth:`add_public` refuses a different one.

    Signatures cover exactly the ``payload`` bytes. Callers must put everything that gives
    the notice its meaning into the payload (message kind, peer id, epoch, point ids, a
    nonce or sequence number) so a signature cannot be replayed for another purpose.

    Parameters
    ----------
    private_keys
        Peer id -> private key of the peers this process speaks for.
    public_keys
        Peer id -> public key of other peers (those of ``private_keys`` are added).
    """

    def __init__(
        self,
        private_keys: Mapping[int, Ed25519PrivateKey] | None = None,
        public_keys: Mapping[int, Ed25519PublicKey] | None = None,
    ) -> None:
        self._private: dict[int, Ed25519PrivateKey] = {}
        self._public: dict[int, bytes] = {}
        for peer, pub in (public_keys or {}).items():
            self.add_public(peer, pub.public_bytes_raw())
        for peer, key in (private_keys or {}).items():
            pid = check_peer_id(peer, "KeyRing private key")
            self.add_public(pid, key.public_key().public_bytes_raw())
            self._private[pid] = key

    @classmethod
    def generate(cls, peer_ids: Iterable[int], *, seed: int | None = None) -> KeyRing:
        """Make a private key for each peer in ``peer_ids``.

        Parameters
        ----------
        peer_ids
            Peers to create keys for.
        seed
            ``None``: keys from ``os.urandom`` (deployments). An integer: each peer's
            32-byte Ed25519 seed is ``sha256(f"{seed}:{peer}")``, so a simulation with the
            same scenario seed gets the same keys and signatures (Ed25519 signing is
            deterministic). Such keys are public knowledge: never use them outside tests
            and simulations.

        Returns
        -------
        KeyRing
            A ring holding private and public keys for every peer given.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise SecurityError(f"KeyRing seed must be an integer or None, got {seed!r}")
        private: dict[int, Ed25519PrivateKey] = {}
        for peer in peer_ids:
            pid = check_peer_id(peer, "KeyRing.generate peer_ids")
            if seed is None:
                raw = os.urandom(32)
            else:
                raw = hashlib.sha256(f"{seed}:{pid}".encode()).digest()
            private[pid] = Ed25519PrivateKey.from_private_bytes(raw)
        return cls(private_keys=private)

    @classmethod
    def for_simulation(cls, peer_ids: Iterable[int], scenario_seed: int) -> KeyRing:
        """The keys every runtime of a simulated run gives its peers (``wire.sign``).

        Derived from the scenario's seed, so the in-process, gRPC and Ray runtimes agree,
        and ``hdus-sim audit`` can rebuild the public keys from a run's ``scenario.yaml``.
        Public knowledge, like every seeded key (see :meth:`generate`).
        """
        from hdus_sim.rng import derive_seed

        return cls.generate(peer_ids, seed=derive_seed(scenario_seed, "keys"))

    @property
    def peer_ids(self) -> frozenset[int]:
        """Peers whose signatures this ring can verify."""
        return frozenset(self._public)

    @property
    def signing_peer_ids(self) -> frozenset[int]:
        """Peers this ring can sign for (holds the private key of)."""
        return frozenset(self._private)

    def can_sign(self, peer_id: int) -> bool:
        """Whether this ring holds ``peer_id``'s private key."""
        return peer_id in self._private

    def public_only(self) -> KeyRing:
        """A copy without private keys: what a neighbour holds."""
        ring = KeyRing()
        ring._public = dict(self._public)
        return ring

    def only(self, peer_ids: Iterable[int]) -> KeyRing:
        """A copy with every public key but the private keys of ``peer_ids`` only.

        What one device holds: it signs as the peers it serves, verifies everyone.

        Raises
        ------
        SecurityError
            If this ring lacks the private key of one of ``peer_ids``.
        """
        wanted = sorted({check_peer_id(p, "KeyRing.only peer_ids") for p in peer_ids})
        missing = [p for p in wanted if p not in self._private]
        if missing:
            raise SecurityError(
                f"no private key for peer(s) {missing} in this key ring (it holds "
                f"{sorted(self._private)})"
            )
        ring = self.public_only()
        ring._private = {p: self._private[p] for p in wanted}
        return ring

    @classmethod
    def load_for(cls, directory: str | Path, peer_ids: Iterable[int]) -> KeyRing:
        """Load a device's ring: the private keys of ``peer_ids`` (exactly), public for all.

        Raises
        ------
        SecurityError
            If a private key of ``peer_ids`` is missing, or the folder holds private keys
            of other peers too (every device would then be able to sign as them: give each
            device its own folder, as ``hdus-sim certs`` writes).
        """
        wanted = sorted({check_peer_id(p, "KeyRing.load_for peer_ids") for p in peer_ids})
        ring = cls.load(directory)
        path = Path(directory) / KEYRING_FILE
        missing = [p for p in wanted if not ring.can_sign(p)]
        if missing:
            raise SecurityError(
                f"{path} holds no private key of peer(s) {missing}, so they cannot sign; "
                "point pki_dir at the device's own folder written by `hdus-sim certs`"
            )
        others = sorted(ring.signing_peer_ids - set(wanted))
        if others:
            raise SecurityError(
                f"{path} holds the private keys of peer(s) {others} besides {wanted}: this "
                "device could sign as them; give every device only its own folder (hdus-sim "
                "certs OUT writes OUT/<host>/) and keep the others off it"
            )
        return ring

    def sign(self, peer_id: int, payload: bytes) -> bytes:
        """Sign ``payload`` as ``peer_id``; a 64-byte Ed25519 signature.

        Raises
        ------
        SecurityError
            If this ring does not hold ``peer_id``'s private key.
        """
        key = self._private.get(peer_id)
        if key is None:
            raise SecurityError(
                f"cannot sign as peer {peer_id}: this key ring holds private keys only for "
                f"peers {sorted(self._private)}; sign in the process that owns peer {peer_id}"
            )
        return key.sign(bytes(payload))

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ``peer_id``'s signature of ``payload``.

        Never raises on bad input: an unknown peer, an empty, truncated or garbage
        signature, or a non-bytes argument all give ``False``.
        """
        raw = self._public.get(peer_id) if isinstance(peer_id, int) else None
        if raw is None:
            return False
        cache = self.__dict__.setdefault("_verifiers", {})
        key = cache.get(raw)
        try:
            if key is None:  # parsing a public key costs as much as a check: once per peer
                key = cache[raw] = Ed25519PublicKey.from_public_bytes(raw)
            key.verify(bytes(signature), bytes(payload))
        except (InvalidSignature, TypeError, ValueError):
            return False
        return True

    def add_public(self, peer_id: int, public_bytes: bytes) -> None:
        """Learn ``peer_id``'s 32-byte raw Ed25519 public key.

        Raises
        ------
        SecurityError
            If the bytes are not a public key, or the peer already has a different key
            (keys are pinned, so nobody can swap a peer's key to forge its notices).
        """
        pid = check_peer_id(peer_id, "KeyRing.add_public")
        try:
            raw = bytes(public_bytes)
            Ed25519PublicKey.from_public_bytes(raw)
        except (TypeError, ValueError) as exc:
            raise SecurityError(
                f"public key of peer {pid} is not a 32-byte raw Ed25519 key ({exc}); "
                "send KeyRing.public_bytes(peer) as is"
            ) from exc
        known = self._public.get(pid)
        if known is not None and known != raw:
            raise SecurityError(
                f"peer {pid} already has a different public key; keys are pinned: build a new "
                "KeyRing if the peer really changed keys"
            )
        self._public[pid] = raw

    def public_bytes(self, peer_id: int) -> bytes:
        """``peer_id``'s 32-byte raw public key; :class:`SecurityError` if unknown."""
        try:
            return self._public[peer_id]
        except KeyError:
            raise SecurityError(
                f"no public key for peer {peer_id} (known: {sorted(self._public)}); add it "
                "with KeyRing.add_public"
            ) from None

    def save(self, directory: str | Path) -> Path:
        """Write ``keyring.json`` (hex keys) into ``directory``; returns the file's path.

        Private keys are written only if held, and the file is then readable by the owner
        only where the platform allows.
        """
        out = Path(directory)
        doc: dict[str, Any] = {
            "format": "hdus-sim keyring",
            "version": 1,
            "public": {str(p): raw.hex() for p, raw in sorted(self._public.items())},
        }
        if self._private:
            doc["private"] = {
                str(p): k.private_bytes_raw().hex() for p, k in sorted(self._private.items())
            }
        path = out / KEYRING_FILE
        text = json.dumps(doc, indent=2) + "\n"
        try:
            out.mkdir(parents=True, exist_ok=True)
            if self._private:
                write_private(path, text.encode())
            else:
                path.write_text(text)
        except OSError as exc:
            raise SecurityError(f"cannot write {path}: {exc}; choose a writable directory") from exc
        return path

    @classmethod
    def load(cls, directory: str | Path) -> KeyRing:
        """Read a ring written by :meth:`save` from ``directory/keyring.json``.

        Raises
        ------
        SecurityError
            If the file is missing or malformed, or a private key does not match the
            public key stored for the same peer.
        """
        path = Path(directory) / KEYRING_FILE
        if not path.is_file():
            raise SecurityError(f"missing key ring file {path}; {_KEYRING_FIX}")
        try:
            doc = json.loads(path.read_text())
            public = {int(p): bytes.fromhex(h) for p, h in doc["public"].items()}
            private = {int(p): bytes.fromhex(h) for p, h in doc.get("private", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SecurityError(
                f"{path} is not a key ring ({exc}); expected "
                '{"public": {"<peer>": "<hex>"}, "private": {...}}; rewrite it with KeyRing.save'
            ) from exc
        ring = KeyRing()
        try:
            for pid, raw in public.items():
                ring.add_public(pid, raw)
            for pid, raw in private.items():
                key = Ed25519PrivateKey.from_private_bytes(raw)
                ring.add_public(pid, key.public_key().public_bytes_raw())
                ring._private[pid] = key
        except SecurityError as exc:
            raise SecurityError(f"{path}: {exc}") from exc
        except ValueError as exc:
            raise SecurityError(
                f"{path}: a private key is not a 32-byte raw Ed25519 key ({exc}); "
                "rewrite it with KeyRing.save"
            ) from exc
        return ring

    def __repr__(self) -> str:
        return f"KeyRing(public={sorted(self._public)}, private={sorted(self._private)})"

    def __getstate__(self) -> dict[str, Any]:
        # raw key bytes: checkpoints of peers (which hold their credentials) pickle
        return {
            "public": dict(self._public),
            "private": {p: k.private_bytes_raw() for p, k in self._private.items()},
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._public = dict(state["public"])
        self._private = {
            p: Ed25519PrivateKey.from_private_bytes(raw) for p, raw in state["private"].items()
        }

    def credentials(self, peer_id: int) -> PeerCredentials:
        """Credentials for peer ``peer_id``: it signs as itself and checks everyone.

        Raises
        ------
        SecurityError
            If this ring does not hold ``peer_id``'s private key.
        """
        if not self.can_sign(peer_id):
            raise SecurityError(
                f"cannot sign as peer {peer_id}: this key ring holds private keys only for "
                f"peers {sorted(self._private)}"
            )
        return PeerCredentials(self, peer_id)


class PeerCredentials:
    """One peer's :class:`clients.credentials.Credentials` backed by a :class:`KeyRing`.

    It signs only as ``peer_id`` (the peer logic never asks for another name) and verifies
    any peer's Ed25519 signature against the ring's public keys.
    """

    checked = True

    def __init__(self, ring: KeyRing, peer_id: int) -> None:
        self.ring = ring
        self.peer_id = peer_id

    def sign(self, payload: bytes) -> bytes:
        """Sign ``payload`` as this peer (64 bytes)."""
        return self.ring.sign(self.peer_id, payload)

    def verify(self, peer_id: int, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is ``peer_id``'s over ``payload`` (never raises)."""
        return self.ring.verify(peer_id, payload, signature)
