import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { isCairnError } from '../core/errors.js';
import { mulberry32 } from '../test-support/prng.js';
import { packageRoot } from '../core/package-root.js';
import { auditActions, auditOutcomes, isAuditAction, type AuditAction } from './actions.js';
import { AUDIT_SCHEMA, buildEvent, encodeEvent, parseEvent, type AuditContext, type EventDraft } from './event.js';

const ctx: AuditContext = {
  actor: { id: 'ops@example.com', auth: 'config' },
  host: 'build-7',
  pid: 4242,
  command: 'data add',
  client: 'cairn/1.2.3',
  workspace: 'ws-1',
};
const fields = {
  index: 3,
  prev: 'ab'.repeat(32),
  id: '01a21a40-1e3f-7000-ad5e-dae0162d0bee',
  time: '2026-11-26T23:45:39.391Z',
  outcome: 'ok' as const,
};

describe('audit events', () => {
  it('the closed list of actions is exactly the documented one', () => {
    expect(Object.keys(auditActions)).toEqual([
      'workspace.init',
      'dataset.version.create',
      'dataset.tag',
      'dataset.checkout',
      'dataset.profile',
      'dataset.validate',
      'dataset.suite.infer',
      'dataset.clean',
      'dataset.split',
      'dataset.hold',
      'dataset.hold.release',
      'dataset.erase',
      'store.gc',
      'store.fsck',
      'store.repair',
      'keys.create',
      'keys.rotate',
      'audit.export',
      'remote.add',
      'remote.remove',
      'remote.push',
      'remote.erase',
      'remote.pull',
      'workspace.clone',
      'run.import',
      'run.submit',
      'run.start',
      'run.finish',
      'run.fail',
      'run.cancel',
      'run.reuse',
      'run.policy',
      'project.set',
      'model.register',
      'model.verify',
      'model.policy.set',
      'model.approve',
      'model.promote',
      'model.alias.remove',
      'model.rollback',
      'model.release',
      'model.evaluate',
      'model.deploy',
      'server.user.add',
      'server.user.disable',
      'server.token.create',
      'server.token.revoke',
      'server.grant',
      'server.read',
      'server.store.plan',
      'server.store.commit',
      'server.store.poisoned',
      'server.store.download',
      'server.store.write',
      'server.signin',
      'server.denied',
      'server.row.forged',
      'server.keys.reseal',
      'audit.witness.config',
      'audit.timestamp.config',
    ]);
    expect(auditOutcomes).toEqual(['ok', 'failed', 'denied']);
    const doc = readFileSync(join(packageRoot(), 'docs', 'AUDIT.md'), 'utf8');
    for (const a of Object.keys(auditActions)) expect(doc, `docs/AUDIT.md documents ${a}`).toContain(`| \`${a}\` |`);
    expect(isAuditAction('dataset.tag')).toBe(true);
    expect(isAuditAction('toString')).toBe(false);
    expect(isAuditAction('dataset.delete')).toBe(false);
  });

  it('buildEvent fills every field in a fixed shape; encodeEvent is RFC 8785', () => {
    const e = buildEvent(ctx, { action: 'dataset.tag', target: { type: 'dataset', name: 'x', version: 2 } }, fields);
    expect(e).toEqual({
      schema: AUDIT_SCHEMA,
      index: 3,
      prev: fields.prev,
      id: fields.id,
      time: fields.time,
      actor: { id: 'ops@example.com', auth: 'config' },
      host: 'build-7',
      process: { pid: 4242, command: 'data add' },
      client: 'cairn/1.2.3',
      workspace: 'ws-1',
      action: 'dataset.tag',
      target: { type: 'dataset', name: 'x', version: 2 },
      inputs: [],
      outputs: [],
      params: {},
      outcome: 'ok',
    });
    expect('reason' in e).toBe(false);
    const enc = encodeEvent(e);
    expect(enc).toBe(canonicalJson(e));
    expect(
      enc.startsWith(
        '{"action":"dataset.tag","actor":{"auth":"config","id":"ops@example.com"},"client":"cairn/1.2.3","host":"build-7","id":',
      ),
    ).toBe(true);
    expect(parseEvent(enc)).toEqual({ event: e });
    const failed = buildEvent(
      ctx,
      { action: 'store.gc', target: { type: 'store' } },
      { ...fields, outcome: 'failed', reason: 'LOCKED: x' },
    );
    expect(failed.reason).toBe('LOCKED: x');
    expect(parseEvent(encodeEvent(failed))).toEqual({ event: failed });
  });

  it('an action outside the closed list is refused when written', () => {
    expect(() =>
      buildEvent(ctx, { action: 'dataset.delete' as AuditAction, target: { type: 'dataset' } }, fields),
    ).toThrow(expect.objectContaining({ code: 'INTERNAL', message: 'unknown audit action dataset.delete' }));
    try {
      buildEvent(ctx, { action: 'x' as AuditAction, target: { type: 'dataset' } }, fields);
    } catch (err) {
      expect(isCairnError(err, 'INTERNAL')).toBe(true);
    }
  });

  it('an event carrying a URL with a password or a secret query parameter is refused, naming the field but not the value', () => {
    const cases: Array<[Partial<EventDraft>, string]> = [
      [{ params: { endpoint: 'http://AKIA:topsecret@minio:9000' } }, 'params.endpoint'],
      [{ params: { hook: { url: 'https://h.example/x?token=topsecret' } } }, 'params.hook.url'],
      [{ params: { args: ['ok', 'curl https://u:topsecret@h/'] } }, 'params.args[1]'],
      [{ inputs: ['postgres://u:topsecret@db/x'] }, 'inputs[0]'],
      [{ target: { type: 'remote', name: 'https://u:topsecret@h' } }, 'target.name'],
    ];
    for (const [draft, field] of cases) {
      let caught: unknown;
      try {
        buildEvent(ctx, { action: 'remote.add', target: { type: 'remote', name: 'origin' }, ...draft }, fields);
      } catch (err) {
        caught = err;
      }
      expect(isCairnError(caught, 'INVALID_INPUT'), field).toBe(true);
      expect((caught as Error).message).toContain(`: ${field}: a URL carries`);
      expect(JSON.stringify(caught) + (caught as Error).message).not.toContain('topsecret');
    }
    // A user name alone (ssh://alice@host) and ordinary URLs are fine.
    expect(
      buildEvent(
        ctx,
        {
          action: 'remote.add',
          target: { type: 'remote', name: 'origin' },
          params: { url: 'ssh://alice@host/srv', endpoint: 'http://minio:9000' },
        },
        fields,
      ).params.url,
    ).toBe('ssh://alice@host/srv');
  });

  it('a secret anywhere in a draft (a value, a key, the reason) is refused at its place; a clean draft is not', () => {
    const secret = 'https://u:topsecret@h/x';
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = mulberry32(seed);
      const leaf = (): unknown => ['a', 'ssh://alice@h/x', 1, null, true][Math.floor(rnd() * 5)];
      const tree = (depth: number): unknown =>
        depth > 2 || rnd() < 0.4
          ? leaf()
          : rnd() < 0.5
            ? Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => tree(depth + 1))
            : Object.fromEntries(
                Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => [`k${i}`, tree(depth + 1)]),
              );
      const draft: EventDraft = {
        action: 'remote.add',
        target: { type: 'remote', name: 'origin' },
        inputs: ['in'],
        outputs: ['out'],
        params: { p: tree(0), q: tree(0) },
      };
      let reason: string | undefined;
      // Where the secret goes: nowhere, or one of the places findSecret names.
      const place = Math.floor(rnd() * 6);
      let want: string | null = null;
      if (place === 1) [draft.inputs![0], want] = [secret, 'inputs[0]'];
      if (place === 2) [draft.outputs![0], want] = [secret, 'outputs[0]'];
      if (place === 3) [draft.params!.deep, want] = [{ list: ['x', { url: secret }] }, 'params.deep.list[1].url'];
      if (place === 4) [draft.params!.map, want] = [{ [secret]: 1 }, `params.map.${secret}`];
      if (place === 5) [reason, want] = [`failed: ${secret}`, 'reason'];
      let caught: unknown = null;
      try {
        buildEvent(ctx, draft, { ...fields, ...(reason ? { reason } : {}) });
      } catch (err) {
        caught = err;
      }
      if (want === null) expect(caught, `seed ${seed}`).toBe(null);
      else expect((caught as Error).message, `seed ${seed}`).toContain(`: ${want}: a URL carries`);
    }
  });

  it('parseEvent names what is wrong with a damaged entry', () => {
    const good = buildEvent(ctx, { action: 'dataset.tag', target: { type: 'dataset' } }, fields);
    const enc = (over: Record<string, unknown>) => canonicalJson({ ...good, ...over });
    const cases: Array<[string, string]> = [
      ['{"a":', 'entry is not JSON'],
      ['null', 'entry is not an object'],
      [enc({ schema: 'cairn.audit/v0' }), 'unknown schema "cairn.audit/v0"'],
      [enc({ index: 'x' }), 'index missing'],
      [enc({ prev: 'AB' }), 'prev is malformed'],
      [enc({ action: 'dataset.delete' }), 'action "dataset.delete" is not in the closed list'],
      [enc({ outcome: 'maybe' }), 'outcome "maybe" is invalid'],
      [enc({ actor: {} }), 'actor missing'],
      [JSON.stringify(good), 'entry is not in canonical form'],
      [encodeEvent(good).replace('{', '{ '), 'entry is not in canonical form'],
    ];
    for (const [entry, problem] of cases) expect(parseEvent(entry), entry).toEqual({ problem });
    expect(parseEvent(enc({ prev: null }))).toHaveProperty('event');
  });
});
