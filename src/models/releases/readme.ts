import { IN_TOTO_PAYLOAD_TYPE } from './dsse.js';
import { MANIFEST_PAYLOAD_TYPE, RELEASE_FORMAT } from './manifest.js';

/** The README.md written into every release bundle: what is in it and how to check it by hand. */
export function releaseReadme(info: {
  model: { name: string; version: number };
  keyid: string;
  hasVerifierKey: boolean;
}): string {
  const { model, keyid } = info;
  return `# ${model.name} v${model.version}: Cairn model release

This folder is a signed model release (format \`${RELEASE_FORMAT}\`). Everything in it can be
checked offline, without Cairn and without its database.

| file | what it is |
|---|---|
| \`model/\` | the model files |
| \`model-card.md\`, \`model-card.json\` | the model card, for people and for programs |
| \`evaluations/*.json\` | evaluation reports |
| \`provenance.dsse.json\` | DSSE envelope (\`${IN_TOTO_PAYLOAD_TYPE}\`) of an in-toto v1 Statement with SLSA v1 provenance: the model files' SHA-256 digests and the run, data, code and environment that produced them |
| \`proofs/*.json\` | inclusion proofs of audit-log events in a signed checkpoint (\`cairn.audit-proof/v1\`) |
| \`public-key.pem\` | the Ed25519 key that signed the release (key id \`${keyid}\`) |
| \`model.sig\` | OpenSSF Model Signing (OMS v1.0) signature of the files in \`model/\`: a Sigstore bundle with a DSSE envelope, signed with an ECDSA P-256 key |
| \`public-key-oms.pem\` | the P-256 public key of \`model.sig\` |
${info.hasVerifierKey ? "| `public-key.vkey` | the audit log's verifier key (signed-note form), for the proofs |\n" : ''}| \`manifest.json\` | SHA-256 and size of every other file (RFC 8785 canonical JSON) |
| \`manifest.dsse.json\` | DSSE envelope (\`${MANIFEST_PAYLOAD_TYPE}\`) whose payload is exactly \`manifest.json\` |

**Check the key first.** A bundle checked against its own \`public-key.pem\` only proves that
it is self-consistent. Compare the key id with one you obtained independently:

    openssl pkey -pubin -in public-key.pem -outform DER | openssl dgst -sha256
    # must print ${keyid.replace(/^sha256:/, '')}

## With Cairn

    cairn release verify <this folder> --key <trusted public key PEM>

## By hand (sh, openssl 3, python3)

1. **The manifest's signature.** DSSE signs PAE(type, payload) =
   \`"DSSEv1" SP len(type) SP type SP len(payload) SP payload\` (lengths in bytes, decimal):

       python3 - manifest.dsse.json <<'EOF'
       import base64, json, sys
       e = json.load(open(sys.argv[1])); p = base64.b64decode(e["payload"]); t = e["payloadType"].encode()
       open("payload.bin", "wb").write(p)
       open("pae.bin", "wb").write(b"DSSEv1 %d %s %d %s" % (len(t), t, len(p), p))
       open("sig.bin", "wb").write(base64.b64decode(e["signatures"][0]["sig"]))
       EOF
       openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in pae.bin -sigfile sig.bin
       cmp payload.bin manifest.json

2. **Every file.** The manifest's paths are relative, without \`..\` or control characters:

       python3 -c 'import json; [print(f["sha256"] + "  " + f["path"]) for f in json.load(open("manifest.json"))["files"]]' | sha256sum -c

   and no file may be present that the manifest does not list (other than \`manifest.json\` and
   \`manifest.dsse.json\`): compare \`find . -type f -o -type l\` with that list.

3. **The provenance.** Repeat step 1 with \`provenance.dsse.json\`; \`payload.bin\` is then the
   in-toto statement. Its \`subject\` must list exactly the files under \`model/\` (names
   relative to \`model/\`) with the same SHA-256 as \`manifest.json\`.

4. **The OMS signature** (with the OpenSSF \`model_signing\` tool, from a trusted copy of the key):

       model_signing verify key model --signature model.sig --public_key public-key-oms.pem

5. **The audit proofs.** \`cairn audit verify-proof proofs/<name>.json --key <trusted vkey>\`,
   or see docs/RELEASES.md in the Cairn distribution, which also holds a complete verifier
   script (python3 standard library and openssl only) that does steps 1 to 3 and 5.
`;
}
