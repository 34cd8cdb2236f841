/**
 * A verifier for release bundles that needs only python3 (standard library) and openssl 3.x: the
 * same checks as verifyReleaseBundle. docs/RELEASES.md carries this text verbatim (a test checks
 * it), so a user can take the script from the Cairn documentation rather than from the bundle it
 * is meant to check.
 */
export const VERIFY_PY = String.raw`#!/usr/bin/env python3
"""Verify a Cairn model release bundle (cairn.release/v1) offline.

usage: python3 verify_release.py BUNDLE_DIR [TRUSTED_KEY.pem [TRUSTED_AUDIT_VKEY]]

Needs only the Python standard library and openssl 3.x (for Ed25519). Without TRUSTED_KEY.pem
the bundle's own public-key.pem is used, which proves consistency, not authorship: the checks
still run, but the script exits 1 (UNTRUSTED) instead of reporting success.
"""
import base64, hashlib, json, os, re, subprocess, sys, tempfile

IN_TOTO = "application/vnd.in-toto+json"
MANIFEST_TYPE = "application/vnd.cairn.release-manifest+json"
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
problems = []

def problem(path, msg):
    problems.append("%s: %s" % (path, msg))

def b64(s):
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)

def ed25519_ok(der_key, message, sig):
    with tempfile.TemporaryDirectory() as t:
        paths = [os.path.join(t, n) for n in ("k", "m", "s")]
        for p, data in zip(paths, (der_key, message, sig)):
            with open(p, "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", paths[0],
                            "-rawin", "-in", paths[1], "-sigfile", paths[2]], capture_output=True)
        return r.returncode == 0

def pem_to_der(pem_path):
    r = subprocess.run(["openssl", "pkey", "-pubin", "-in", pem_path, "-outform", "DER"], capture_output=True)
    if r.returncode != 0 or not r.stdout.startswith(SPKI_ED25519) or len(r.stdout) != 44:
        sys.exit("FAIL: %s is not an Ed25519 public key" % pem_path)
    return r.stdout

def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)

def open_dsse(root, path, der_key, payload_type):
    """The payload of a DSSE envelope whose signature verifies, else None."""
    try:
        with open(os.path.join(root, path), "rb") as f:
            env = json.load(f)
        payload = b64(env["payload"])
        if env["payloadType"] != payload_type:
            problem(path, "payloadType is %r, expected %r" % (env["payloadType"], payload_type)); return None
        if any(ed25519_ok(der_key, pae(payload_type, payload), b64(s["sig"])) for s in env["signatures"]):
            return payload
        problem(path, "no signature verifies with the trusted key")
    except (OSError, ValueError, KeyError, TypeError) as e:
        problem(path, "not a DSSE envelope (%s)" % e)
    return None

def unsafe(p):
    segs = p.split("/")
    return (not p or p.startswith("/") or "\\" in p or re.search(r"[\x00-\x1f\x7f]", p) or re.match(r"^[A-Za-z]:", p)
            or any(s in ("", ".", "..") for s in segs))

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def node(l, r): return hashlib.sha256(b"\x01" + l + r).digest()

def root_from_inclusion(leaf, index, size, proof):
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size: return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return None
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2; sn //= 2
        else:
            r = node(r, p)
        fn //= 2; sn //= 2
    return r if sn == 0 else None

def parse_vkey(vkey):
    """<name>+<8 hex key id>+<base64(0x01 || 32-byte key)>, checking the key id."""
    name, kid, rest = vkey.strip().split("+", 2)
    raw = base64.b64decode(rest, validate=True)
    if len(raw) != 33 or raw[0] != 1: raise ValueError("not an Ed25519 verifier key")
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() != kid: raise ValueError("key id mismatch")
    return name, bytes.fromhex(kid), SPKI_ED25519 + raw[1:]

def check_proof(path, trusted_vkey):
    with open(path, "rb") as f:
        p = json.load(f)
    if p.get("format") != "cairn.audit-proof/v1": return "unknown proof format %r" % p.get("format")
    name, kid, der = parse_vkey(trusted_vkey or p["verifierKey"])
    note = p["checkpoint"]
    cut = note.find("\n\n")
    if cut < 0: return "the checkpoint is not a signed note"
    body, sigs = note[:cut + 1], note[cut + 2:].splitlines()
    signed = False
    for line in sigs:
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            sig = base64.b64decode(parts[2], validate=True)
            if sig[:4] == kid and ed25519_ok(der, body.encode(), sig[4:]): signed = True
    if not signed: return "the checkpoint is not signed by %s" % name
    lines = body.split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    if size != p["treeSize"]: return "the checkpoint is for size %d, the proof for %d" % (size, p["treeSize"])
    leaf = hashlib.sha256(b"\x00" + p["entry"].encode()).digest()
    if leaf.hex() != p["leafHash"]: return "the entry does not hash to the stated leaf"
    if root_from_inclusion(leaf, p["index"], size, [bytes.fromhex(h) for h in p["proof"]]) != root:
        return "the audit path does not lead to the checkpoint root"
    return None

def main():
    if len(sys.argv) < 2: sys.exit(__doc__)
    root = sys.argv[1]
    key_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "public-key.pem")
    trusted_vkey = sys.argv[3] if len(sys.argv) > 3 else None
    if len(sys.argv) <= 2: print("warning: no trusted key given; checking against the bundle's own public-key.pem")
    der = pem_to_der(key_path)
    at = lambda p: os.path.join(root, *p.split("/"))
    print("key id: sha256:" + hashlib.sha256(der).hexdigest())
    if len(sys.argv) > 2 and pem_to_der(at("public-key.pem")) != der:
        problem("public-key.pem", "is not the trusted key")

    # 1. manifest.json is exactly the payload of manifest.dsse.json, signed by the key.
    with open(at("manifest.json"), "rb") as f:
        manifest_bytes = f.read()
    signed = open_dsse(root, "manifest.dsse.json", der, MANIFEST_TYPE)
    if signed is not None and signed != manifest_bytes:
        problem("manifest.dsse.json", "signs other bytes than manifest.json")
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != "cairn.release/v1": sys.exit("FAIL: unknown format %r" % manifest.get("format"))

    # 2. Every listed file has its digest and size; nothing unlisted; nothing outside the folder.
    listed = {}
    for f in manifest["files"]:
        p = f["path"]
        if unsafe(p) or p in ("manifest.json", "manifest.dsse.json") or p in listed:
            problem(p, "unsafe or repeated manifest path"); continue
        listed[p] = f
        segs = p.split("/")
        if any(os.path.islink(at("/".join(segs[:i + 1]))) for i in range(len(segs))):
            problem(p, "is or goes through a symbolic link"); continue
        if not os.path.isfile(at(p)):
            problem(p, "is missing"); continue
        if os.path.getsize(at(p)) != f["size"] or sha256_file(at(p)) != f["sha256"]:
            problem(p, "was modified (digest or size differs from the manifest)")
    for d, dirs, files in os.walk(root):
        for n in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            rel = os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/")
            if rel not in listed and rel not in ("manifest.json", "manifest.dsse.json"):
                problem(rel, "is not listed in the manifest")

    # 3. The provenance statement is signed and its subjects are exactly the model files.
    payload = open_dsse(root, "provenance.dsse.json", der, IN_TOTO)
    if payload is not None:
        st = json.loads(payload)
        if st.get("_type") != "https://in-toto.io/Statement/v1" or st.get("predicateType") != "https://slsa.dev/provenance/v1":
            problem("provenance.dsse.json", "is not an in-toto v1 statement with SLSA v1 provenance")
        subjects = {s["name"]: s["digest"].get("sha256") for s in st.get("subject", [])}
        models = {p[len("model/"):]: f["sha256"] for p, f in listed.items() if p.startswith("model/")}
        for name in sorted(set(subjects) | set(models)):
            if subjects.get(name) != models.get(name):
                problem("model/" + name, "the signed statement and the manifest disagree about this file")

    # 4. Audit inclusion proofs.
    for p in sorted(x for x in listed if x.startswith("proofs/")):
        try:
            why = check_proof(at(p), trusted_vkey)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            why = "not a proof file (%s)" % e
        if why: problem(p, why)

    if problems:
        for p in problems: print("FAIL " + p)
        sys.exit(1)
    if len(sys.argv) <= 2:
        print("UNTRUSTED: self-consistent, but no trusted key was given; pass the publisher's public key PEM")
        sys.exit(1)
    print("ok: %s v%s, %d files, signatures and digests verify" % (manifest["model"]["name"], manifest["model"]["version"], len(listed)))

main()
`;
