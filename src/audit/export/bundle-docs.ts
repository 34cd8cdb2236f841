/** Files written into every audit export so it can be checked without Cairn. */

export const EXPORT_README = `# Cairn audit log export

This directory is a self-contained copy of a Cairn audit log (format \`cairn.audit-export/v1\`).

| file | what it is |
|---|---|
| \`entries.jsonl\` | every event, one per line, exactly the bytes the log hashed (RFC 8785 canonical JSON) |
| \`checkpoints/*.note\` | signed checkpoints (C2SP signed-note / tlog-checkpoint format, Ed25519) |
| \`public-key.vkey\` | the log's verifier key in signed-note form (\`<name>+<key id>+<base64>\`) |
| \`public-key.pem\` | the same Ed25519 public key as PEM, for OpenSSL |
| \`keys/<size>.pem\` | every audit key the log signed with, named by the log size from which it signs (one file unless the key was rotated: \`keys.rotate\` entries) |
| \`proofs/consistency.jsonl\` | consistency proofs between successive checkpoints (RFC 9162 §2.1.4) |
| \`proofs/inclusion.jsonl\` | inclusion proof of every entry in the latest checkpoint (RFC 9162 §2.1.3) |
| \`log.json\` | origin, size, root hash, key |

A bundle a team server gives a reader of some of its projects carries, in place of each event they
may not read, a line \`#redacted <leaf hash>\`: the leaf still binds every root and the next
entry's \`prev\`, so the log verifies whole; only the event's content is withheld.

Compare \`public-key.vkey\` with a copy of the key you obtained independently (for example
from \`cairn init\` output kept in your product repository). A bundle checked only against its
own key proves internal consistency, not authorship.

## With Cairn

    cairn audit verify --bundle <this directory> [--key <trusted vkey or file>] [--against <trusted checkpoint>]

## With standard tools (sh, openssl, python3)

    ./verify.sh

It does, step by step:

1. For each checkpoint note, the key is the \`keys/<n>.pem\` with the largest \`n\` not above the
   checkpoint's size (its second line); one of its signature lines must verify with it. The signed text is everything before the first empty line
   (\`sed -n '/^$/q;p' note > body\`); the signature line is \`— <name> <base64>\`, whose base64
   decodes to a 4-byte key id followed by the 64-byte Ed25519 signature
   (\`tail -n 1 note | awk '{print $3}' | base64 -d | tail -c 64 > sig\`). Verify with
   \`openssl pkeyutl -verify -pubin -inkey keys/<n>.pem -rawin -in body -sigfile sig\`. After a key
   rotation, each \`keys.rotate\` entry's \`params.statement\` (a signed note naming the old and
   new key) must verify with both the key before it and the key after it, and \`verify.py\`
   checks that the key files are exactly the keys those entries hand over between, in order.
2. \`python3 verify.py\` (standard library only) recomputes every leaf
   \`SHA-256(0x00 ‖ entry)\`, checks that each entry's \`index\` is its line number and its
   \`prev\` is the previous leaf hash, folds the leaves into the RFC 6962 Merkle tree
   (\`node = SHA-256(0x01 ‖ left ‖ right)\`) and compares the root at every checkpoint size
   with the root in that checkpoint's second and third lines. It also checks that the latest
   checkpoint covers every entry and that \`log.json\` lists as many entries and checkpoints as
   the directory holds (a removed checkpoint would otherwise leave entries unsigned).

A single entry can be checked by hand: \`sed -n '<n+1>p' entries.jsonl | tr -d '\\n' |
(printf '\\000'; cat) | openssl dgst -sha256\` gives its leaf hash, and the matching line
of \`proofs/inclusion.jsonl\` lists the sibling hashes up to the latest checkpoint's root.
`;

export const VERIFY_PY = `#!/usr/bin/env python3
"""Recompute a Cairn audit export's Merkle tree and hash chain (standard library only)."""
import base64, hashlib, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))

def leaf(b): return hashlib.sha256(b"\\x00" + b).digest()
def node(l, r): return hashlib.sha256(b"\\x01" + l + r).digest()

def raw_of_vkey(vkey): return base64.b64decode(vkey.split("+", 2)[2])[1:]
def raw_of_pem(path):
    der = base64.b64decode("".join(l for l in open(path).read().splitlines() if not l.startswith("-----")))
    return der[-32:]

def check_keys(entries_path, dump):
    """The key files must be the chain the keys.rotate entries hand over through; writes what verify.sh checks."""
    files = sorted(f for f in os.listdir(os.path.join(here, "keys")) if f.endswith(".pem"))
    keys = [(int(f[:-4]), os.path.join("keys", f)) for f in files]
    if not keys or keys[0][0] != 0: return "keys/ has no key for size 0"
    n = 0
    with open(entries_path, "rb") as f:
        for i, raw in enumerate(f):
            if b'"keys.rotate"' not in raw: continue
            ev = json.loads(raw)
            p = ev.get("params") or {}
            if ev.get("action") != "keys.rotate" or ev.get("outcome") != "ok" or p.get("purpose") != "audit": continue
            n += 1
            if n >= len(keys): return "entry %d rotates the key, but keys/ has no key after it" % i
            (_, old), (start, new) = keys[n - 1], keys[n]
            if start != i + 1: return "entry %d rotates the key, but the next key file starts at %d" % (i, start)
            if raw_of_vkey(p["from"]) != raw_of_pem(os.path.join(here, old)) or raw_of_vkey(p["to"]) != raw_of_pem(os.path.join(here, new)):
                return "entry %d hands over between other keys than %s and %s" % (i, old, new)
            st = p["statement"]
            body, sigs = st[: st.rindex("\\n\\n") + 1], st[st.rindex("\\n\\n") + 2 :]
            if dump:
                open(os.path.join(dump, "t%d.body" % n), "w").write(body)
                open(os.path.join(dump, "t%d.sigs" % n), "w").write(sigs)
                open(os.path.join(dump, "t%d.keys" % n), "w").write("%s\\n%s\\n" % (old, new))
    if n != len(keys) - 1: return "keys/ holds %d keys but the entries rotate %d times" % (len(keys), n)
    if raw_of_pem(os.path.join(here, "public-key.pem")) != raw_of_pem(os.path.join(here, keys[-1][1])):
        return "public-key.pem is not the log's latest key (%s)" % keys[-1][1]
    return None

def main():
    meta = json.load(open(os.path.join(here, "log.json")))
    bad_keys = check_keys(os.path.join(here, "entries.jsonl"), os.environ.get("CAIRN_TRANSITIONS_DIR"))
    if bad_keys:
        print("FAIL: " + bad_keys); sys.exit(1)
    if len(sys.argv) > 1 and sys.argv[1] == "--keys-only": return
    checkpoints = {}
    for name in sorted(os.listdir(os.path.join(here, "checkpoints"))):
        lines = open(os.path.join(here, "checkpoints", name), "rb").read().decode().split("\\n")
        checkpoints[int(lines[1])] = base64.b64decode(lines[2])
    stack = []  # (height, hash): the right edge of perfect subtrees
    prev = None
    size = 0
    bad = None
    with open(os.path.join(here, "entries.jsonl"), "rb") as f:
        for i, raw in enumerate(f):
            entry = raw.rstrip(b"\\n")
            if entry.startswith(b"#redacted "):
                # An event withheld from this reader: only its leaf hash, still bound by every root.
                h = bytes.fromhex(entry[10:].decode())
            else:
                h = leaf(entry)
                ev = json.loads(entry)
                if bad is None and ev.get("index") != i: bad = (i, "entry claims index %r" % ev.get("index"))
                if bad is None and ev.get("prev") != prev: bad = (max(0, i - 1), "hash chain broken before entry %d" % i)
            prev = h.hex()
            height, cur = 0, h
            while stack and stack[-1][0] == height:
                cur = node(stack.pop()[1], cur); height += 1
            stack.append((height, cur))
            size = i + 1
            if size in checkpoints:
                root = stack[-1][1]
                for _, left in reversed(stack[:-1]): root = node(left, root)
                if root != checkpoints[size] and bad is None:
                    bad = (size - 1, "root at size %d differs from its checkpoint" % size)
    for s in checkpoints:
        if s > size and bad is None: bad = (size, "a checkpoint covers %d entries, the export has %d" % (s, size))
    # The export ends at its latest checkpoint: entries past it would be vouched for by nothing.
    signed = max(checkpoints) if checkpoints else 0
    if size > signed and bad is None: bad = (signed, "entries %d..%d are covered by no signed checkpoint" % (signed, size - 1))
    if bad:
        print("FAIL at entry %d: %s" % bad); sys.exit(1)
    if meta.get("checkpoints") != len(checkpoints) or meta.get("size") != size:
        print("FAIL: log.json lists %r entries and %r checkpoints, the export holds %d and %d" % (meta.get("size"), meta.get("checkpoints"), size, len(checkpoints))); sys.exit(1)
    print("ok: %d entries, %d checkpoints, chain and roots match" % (size, len(checkpoints)))

main()
`;

export const VERIFY_SH = `#!/bin/sh
# Verify this audit export with openssl (signatures) and python3 (Merkle tree, hash chain).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Which key signs which checkpoint, and the transitions between keys (verify.py checks the chain).
CAIRN_TRANSITIONS_DIR="$tmp" python3 verify.py --keys-only
has_sig() { # body, signature lines, key: one of the signatures verifies with the key
  while read -r _ _ b64; do
    printf '%s' "$b64" | base64 -d | tail -c 64 > "$tmp/sig"
    if openssl pkeyutl -verify -pubin -inkey "$3" -rawin -in "$1" -sigfile "$tmp/sig" > /dev/null 2>&1; then return 0; fi
  done < "$2"
  return 1
}
n=0
for note in checkpoints/*.note; do
  size=$(sed -n 2p "$note")
  key=
  for k in keys/*.pem; do
    if [ "$(expr "$(basename "$k" .pem)" + 0)" -le "$size" ]; then key=$k; fi
  done
  sed -n '/^$/q;p' "$note" > "$tmp/body"
  sed '1,/^$/d' "$note" > "$tmp/sigs"
  if ! has_sig "$tmp/body" "$tmp/sigs" "$key"; then
    echo "FAIL: bad signature on $note (none by $key)"; exit 1
  fi
  n=$((n + 1))
done
t=0
for body in "$tmp"/t*.body; do
  [ -e "$body" ] || break
  base=\${body%.body}
  for key in $(cat "$base.keys"); do
    if ! has_sig "$body" "$base.sigs" "$key"; then
      echo "FAIL: key transition $(basename "$base") is not signed by $key"; exit 1
    fi
  done
  t=$((t + 1))
done
echo "ok: $n checkpoint signature(s) verify with the key of their size (keys/), $t key transition(s) signed by both keys"
python3 verify.py
`;
