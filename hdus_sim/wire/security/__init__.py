"""Who may speak for a peer: mutual TLS between hosts, Ed25519 signatures per peer.

Two independent layers, both optional and both off in the default in-process runtime:

* **Mutual TLS** (:func:`make_test_pki`, :func:`server_credentials`,
  :func:`channel_credentials`). A small test CA signs one certificate per *host*, i.e. per
  gRPC server, which may serve many peers in simulation and one on a device. The
  certificate's SubjectAlternativeName lists every peer the host serves as a URI
  ``hdus://peer/<id>``; the same certificate is used as server and as client. A receiver
  calls :func:`peer_ids_from_auth_context` on the call's ``auth_context()`` and refuses any
  message whose claimed sender is not in the returned set.
* **Signed notices** (:class:`KeyRing`). Every peer owns an Ed25519 key; leave notices and
  deletion requests are signed by the peer they concern, so no neighbour can make another
  neighbour drop someone else's seed, even through a relay that TLS cannot see past.

The PKI is for test deployments: keys are stored unencrypted next to the certificates.
For a deployment, :func:`write_device_folders` (what ``hdus-sim certs`` writes) gives each
device a folder of its own: the CA certificate, its host certificate and TLS key, the
private signing keys of the peers it serves and nothing else private, and the public keys
of every peer. A device loads it with :meth:`TestPki.load` and :meth:`KeyRing.load_for`,
so it can sign only as itself; the CA key stays with the operator.
gRPC is imported only by the functions that build gRPC credentials, so the in-process
runtime can sign and verify without it.

Modules
-------
:mod:`~hdus_sim.wire.security.common`
    :class:`SecurityError`, file names, the peer-id check, owner-only writes;
:mod:`~hdus_sim.wire.security.certs`
    X.509: issuing, reading and checking the CA and host certificates;
:mod:`~hdus_sim.wire.security.pki`
    :class:`TestPki` and :func:`make_test_pki`, saved and loaded as files;
:mod:`~hdus_sim.wire.security.tls`
    gRPC credentials, channel options, the caller's peer ids;
:mod:`~hdus_sim.wire.security.keyring`
    :class:`KeyRing` and :class:`PeerCredentials` (Ed25519);
:mod:`~hdus_sim.wire.security.devices`
    :func:`write_device_folders`.

This package re-exports their public names, so ``hdus_sim.wire.security`` keeps working.

Examples
--------
>>> pki = make_test_pki({"host0": [0, 1], "host1": [2]})
>>> sorted(pki.hosts), pki.hosts["host0"].peer_ids
(['host0', 'host1'], (0, 1))
>>> ring = KeyRing.generate([0, 1], seed=7)
>>> sig = ring.sign(0, b"leave:0:epoch=1")
>>> ring.public_only().verify(0, b"leave:0:epoch=1", sig)
True
"""

from __future__ import annotations

from hdus_sim.wire.security.certs import PEER_URI_PREFIX, peer_uri
from hdus_sim.wire.security.common import (
    KEYRING_FILE,
    MANIFEST_FILE,
    OPERATOR_FORMAT,
    SecurityError,
)
from hdus_sim.wire.security.devices import write_device_folders
from hdus_sim.wire.security.keyring import KeyRing, PeerCredentials
from hdus_sim.wire.security.pki import HostIdentity, TestPki, make_test_pki
from hdus_sim.wire.security.tls import (
    channel_credentials,
    channel_options,
    peer_ids_from_auth_context,
    server_credentials,
)

__all__ = [
    "KEYRING_FILE",
    "MANIFEST_FILE",
    "OPERATOR_FORMAT",
    "PEER_URI_PREFIX",
    "HostIdentity",
    "KeyRing",
    "PeerCredentials",
    "SecurityError",
    "TestPki",
    "channel_credentials",
    "channel_options",
    "make_test_pki",
    "peer_ids_from_auth_context",
    "peer_uri",
    "server_credentials",
    "write_device_folders",
]
