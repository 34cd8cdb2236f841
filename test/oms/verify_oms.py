#!/usr/bin/env python3
"""An independent verifier of OpenSSF Model Signing (OMS) v1.0 signatures made with a bare key.

Written from the published format (sigstore/model-transparency, "model_signing" v1.0), not from
Cairn's code: a Sigstore bundle v0.3 JSON holding a DSSE envelope whose payload is an in-toto
Statement v1 with predicate type https://model_signing/signature/v1.0. It checks what
`model_signing verify key` checks, with python3's hashlib and the `cryptography` package only.

usage: verify_oms.py MODEL_DIR SIGNATURE PUBLIC_KEY_PEM
prints "ok: N files" and exits 0, or "FAIL: <reason>" and exits 1.
"""

import base64
import hashlib
import json
import os
import pathlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
CURVE_HASH = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}


def fail(reason):
    print(f"FAIL: {reason}")
    sys.exit(1)


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def model_files(root: pathlib.Path) -> dict:
    """Every regular file under root, by POSIX path relative to it, with its SHA-256 (hex)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = pathlib.Path(dirpath) / name
            if p.is_symlink():
                fail(f"{p.relative_to(root).as_posix()} is a symbolic link (the signature does not allow them)")
        for name in filenames:
            p = pathlib.Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def main(model_dir, signature, public_key_path):
    pem = pathlib.Path(public_key_path).read_bytes()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVE_HASH:
        fail("the public key is not an ECDSA P-256, P-384 or P-521 key")
    digest_alg = CURVE_HASH[key.curve.name]

    try:
        bundle = json.loads(pathlib.Path(signature).read_text())
    except ValueError:
        fail("the signature is not JSON")
    if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        fail(f"mediaType {bundle.get('mediaType')!r} is not {BUNDLE_MEDIA_TYPE}")
    # The hint is the hex SHA-256 of the key's SubjectPublicKeyInfo PEM.
    hint = bundle.get("verificationMaterial", {}).get("publicKey", {}).get("hint")
    spki_pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if hint and hint != hashlib.sha256(spki_pem).hexdigest():
        fail("the key hint does not match the public key")

    env = bundle.get("dsseEnvelope") or fail("no dsseEnvelope")
    payload = base64.b64decode(env["payload"], validate=True)
    sigs = env.get("signatures") or fail("the envelope has no signatures")
    sig = base64.b64decode(sigs[0]["sig"], validate=True)
    try:
        key.verify(sig, pae(env["payloadType"], payload), ec.ECDSA(digest_alg()))
    except InvalidSignature:
        fail("the DSSE signature does not verify with the public key")
    if env["payloadType"] != PAYLOAD_TYPE:
        fail(f"payloadType {env['payloadType']!r} is not {PAYLOAD_TYPE}")

    statement = json.loads(payload)
    if statement.get("_type") != STATEMENT_TYPE:
        fail("not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        fail(f"predicateType {statement.get('predicateType')!r} is not {PREDICATE_TYPE}")
    subjects = statement.get("subject", [])
    if len(subjects) != 1:
        fail("expected exactly one subject")
    predicate = statement["predicate"]
    serialization_args = predicate["serialization"]
    if serialization_args.get("method") != "files" or serialization_args.get("hash_type") != "sha256":
        fail(f"unsupported serialization {serialization_args!r}")

    # The subject digest is SHA-256 over the resources' raw digests, in the order listed.
    root = hashlib.sha256()
    signed = {}
    for r in predicate["resources"]:
        if r["algorithm"] != "sha256":
            fail(f"resource {r['name']}: algorithm {r['algorithm']}")
        root.update(bytes.fromhex(r["digest"]))
        if r["name"] in signed:
            fail(f"resource {r['name']} is listed twice")
        signed[r["name"]] = r["digest"]
    if root.hexdigest() != subjects[0]["digest"]["sha256"]:
        fail("the subject digest does not match the resources")
    names = list(signed)
    if names != sorted(names, key=lambda n: pathlib.PurePosixPath(n)):
        fail("the resources are not in canonical (path) order")

    ignored = set(serialization_args.get("ignore_paths", []))
    actual = {p: d for p, d in model_files(pathlib.Path(model_dir)).items() if p not in ignored}
    for name, digest in sorted(actual.items()):
        if name not in signed:
            fail(f"{name} is in the model folder but not signed")
        if signed[name] != digest:
            fail(f"{name} differs from the signed digest")
    for name in signed:
        if name not in actual:
            fail(f"{name} is signed but missing from the model folder")
    print(f"ok: {len(signed)} files")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
