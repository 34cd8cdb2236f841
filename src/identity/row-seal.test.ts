import { describe, expect, it } from 'vitest';
import { rowSeal, sealedFields } from './row-seal.js';

describe('row seals', () => {
  const seal = rowSeal(Buffer.alloc(32, 1));
  const grant = { subject: 'user:carol', project: '*', role: 'viewer' };
  const mac = seal.mac('role_grants', sealedFields.role_grants(grant));

  it("verify a row as the server wrote it, with the server's key only", () => {
    expect(seal.verify('role_grants', sealedFields.role_grants(grant), mac)).toBe(true);
    expect(rowSeal(Buffer.alloc(32, 2)).verify('role_grants', sealedFields.role_grants(grant), mac)).toBe(false);
  });

  it('bind every deciding column, the key and the table; an absent or malformed seal is none', () => {
    for (const other of [
      { ...grant, role: 'admin' },
      { ...grant, subject: 'user:mallory' },
      { ...grant, project: 'default' },
    ])
      expect(seal.verify('role_grants', sealedFields.role_grants(other), mac)).toBe(false);
    expect(seal.verify('principals', sealedFields.role_grants(grant), mac)).toBe(false);
    expect(seal.verify('role_grants', sealedFields.role_grants(grant), null)).toBe(false);
    expect(seal.verify('role_grants', sealedFields.role_grants(grant), `${mac}x`)).toBe(false);
    expect(seal.verify('role_grants', sealedFields.role_grants(grant), '')).toBe(false);
    // Columns that decide nothing are not sealed: the row's own extra fields do not change it.
    expect(sealedFields.role_grants({ ...grant, granted_by: 'x' } as typeof grant)).toEqual(grant);
  });
});
