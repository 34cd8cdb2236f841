import type { Dossier, Statement } from './model.js';

const NOTE =
  'Every statement below is backed by the audit log entries it cites; each has an inclusion proof in proofs/ against the signed checkpoint in checkpoint.txt (check one with `cairn audit verify-proof <file> --key <verifier key>`). Fields Annex IV asks for that no recorded fact answers are listed under Gaps: nothing here is invented.';

function cites(s: Statement): string {
  return s.evidence.map((e) => `[#${e.index} ${e.action}](${e.proof})`).join(', ');
}

/** Markdown: plain text for a repository or a reviewer's editor. */
export function dossierMarkdown(d: Dossier): string {
  const out = [
    `# Technical documentation (EU AI Act Annex IV): ${d.model.name} v${d.model.version}`,
    '',
    `Model digest \`${d.model.digest}\`. Audit log checkpoint: size ${d.checkpoint.size}, root \`${d.checkpoint.root}\` (${d.checkpoint.file}); verifier key \`${d.verifierKey}\`.`,
    '',
    NOTE,
    '',
  ];
  for (const s of d.sections) {
    out.push(`## ${s.title}`, '', `_${s.basis}_`, '');
    if (s.statements.length === 0) out.push('(no recorded facts: see Gaps)', '');
    for (const st of s.statements) out.push(`- **${mdEscape(st.field)}**: ${mdEscape(st.text)} — ${cites(st)}`);
    out.push('');
  }
  out.push('## Gaps', '');
  if (d.gaps.length === 0) out.push('(none)');
  for (const g of d.gaps) out.push(`- **${mdEscape(g.section)} / ${mdEscape(g.field)}**: ${mdEscape(g.why)}`);
  out.push('');
  return out.join('\n');
}

/** Recorded text is user input: keep it from becoming Markdown structure (links, HTML, emphasis). */
function mdEscape(s: string): string {
  return s.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`).replace(/\n+/g, ' ');
}

function h(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** HTML: one self-contained file (no scripts, no external resources), every recorded string escaped. */
export function dossierHtml(d: Dossier): string {
  const body: string[] = [];
  body.push(`<h1>Technical documentation (EU AI Act Annex IV): ${h(d.model.name)} v${d.model.version}</h1>`);
  body.push(
    `<p>Model digest <code>${h(d.model.digest)}</code>. Audit log checkpoint: size ${d.checkpoint.size}, root <code>${h(d.checkpoint.root)}</code> (<a href="${h(d.checkpoint.file)}">${h(d.checkpoint.file)}</a>); verifier key <code>${h(d.verifierKey)}</code>.</p>`,
  );
  body.push(`<p class="note">${h(NOTE)}</p>`);
  for (const s of d.sections) {
    body.push(`<section id="${h(s.id)}"><h2>${h(s.title)}</h2><p class="basis">${h(s.basis)}</p>`);
    if (s.statements.length === 0) body.push('<p>(no recorded facts: see Gaps)</p>');
    else {
      body.push('<table><thead><tr><th>field</th><th>statement</th><th>log entries</th></tr></thead><tbody>');
      for (const st of s.statements)
        body.push(
          `<tr id="${h(st.id)}"><td>${h(st.field)}</td><td>${h(st.text)}</td><td>${st.evidence.map((e) => `<a href="${h(e.proof)}">#${e.index} ${h(e.action)}</a>`).join('<br>')}</td></tr>`,
        );
      body.push('</tbody></table>');
    }
    body.push('</section>');
  }
  body.push('<section id="gaps"><h2>Gaps</h2>');
  body.push(
    d.gaps.length
      ? `<ul>${d.gaps.map((g) => `<li><b>${h(g.section)} / ${h(g.field)}</b>: ${h(g.why)}</li>`).join('')}</ul>`
      : '<p>(none)</p>',
  );
  body.push('</section>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Annex IV: ${h(d.model.name)} v${d.model.version}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}code{font-size:90%;word-break:break-all}.basis{color:#555;font-style:italic}.note{background:#f4f4f4;padding:.5rem}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}
