import { AppError } from '@discordopus/sdk';
import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeFor } from './exit-codes.ts';

describe('exitCodeFor', () => {
  const cases: Array<[string, number]> = [
    ['storage/wrong-passphrase', ExitCode.WrongPassphrase],
    ['backup/wrong-passphrase', ExitCode.WrongPassphrase],
    ['identity/invalid-user-id', ExitCode.Usage],
    ['cli/no-passphrase', ExitCode.Usage],
    ['contacts/invalid-name', ExitCode.Usage],
    ['storage/no-profile', ExitCode.NotFound],
    ['contacts/not-found', ExitCode.NotFound],
    ['contacts/identity-unknown', ExitCode.NotFound],
    ['channels/not-connected', ExitCode.Network],
    ['signaling/unreachable', ExitCode.Network],
    ['contacts/already-exists', ExitCode.Conflict],
    ['identity/profile-exists', ExitCode.Conflict],
    ['backup/file-exists', ExitCode.Conflict],
    ['daemon/socket-in-use', ExitCode.Conflict],
    ['backup/tampered', ExitCode.Damaged],
    ['storage/corrupt-header', ExitCode.Damaged],
    ['storage/disk-full', ExitCode.Generic],
  ];
  for (const [code, exit] of cases) {
    it(`${code} → ${exit}`, () => expect(exitCodeFor(new AppError(code, 'x'))).toBe(exit));
  }

  it('treats anything that is not an AppError as a generic failure', () => {
    expect(exitCodeFor(new Error('boom'))).toBe(ExitCode.Generic);
    expect(exitCodeFor('text')).toBe(ExitCode.Generic);
  });
});
