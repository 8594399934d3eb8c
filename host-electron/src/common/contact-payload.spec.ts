import { describe, expect, it } from 'vitest';
import { userIdFromPublicKey } from '@discordopus/sdk';
import { formatContactPayload, parseContactInput } from './contact-payload.ts';

const key = new Uint8Array(32).fill(7);
const userId = userIdFromPublicKey(key);
const keyHex = Buffer.from(key).toString('hex');

describe('contact input', () => {
  it('accepts a bare user ID, with spaces and upper case', () => {
    expect(parseContactInput(`  ${userId.toUpperCase()} `)).toEqual({ userId });
  });

  it('explains a mistyped ID with the checksum message', () => {
    const typo = userId.slice(0, 10) + (userId[10] === 'q' ? 'p' : 'q') + userId.slice(11);
    expect(parseContactInput(typo).problem).toMatch(/Checksum mismatch/);
    expect(parseContactInput('do1abc').problem).toMatch(/Too short/);
  });

  it('round-trips a contact code with name and key', () => {
    const payload = formatContactPayload(userId, 'Alice & Bob <3', keyHex);
    expect(parseContactInput(payload)).toEqual({ userId, suggestedName: 'Alice & Bob <3', identityKey: keyHex });
  });

  it('refuses a code with a damaged ID or key', () => {
    expect(parseContactInput('discordopus:contact?id=do1xyz').problem).toMatch(/no valid user ID/);
    expect(parseContactInput(formatContactPayload(userId, undefined, 'abcd')).problem).toMatch(/64 hex digits/);
  });
});
