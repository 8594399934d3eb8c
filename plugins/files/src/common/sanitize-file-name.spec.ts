import { describe, expect, it } from 'vitest';
import { MAX_NAME_BYTES, numberedName, sanitizeFileName } from './sanitize-file-name.ts';

describe('sanitizeFileName', () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\Windows\\system32\\evil.dll', 'evil.dll'],
    ['/absolute/path/x.txt', 'x.txt'],
    ['..', 'file'],
    ['.', 'file'],
    ['', 'file'],
    ['.bashrc', 'bashrc'],
    ['...hidden', 'hidden'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['Com1.tar.gz', '_Com1.tar.gz'],
    ['lpt9', '_lpt9'],
    ['console.txt', 'console.txt'],
    ['a\u0000b\u0007c\nd.txt', 'abcd.txt'],
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['what?.txt', 'what_.txt'],
    ['a<b>c:d|e*f"g.txt', 'a_b_c_d_e_f_g.txt'],
    ['trailing. . ', 'trailing'],
    ['   ', 'file'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeFileName(input)).toBe(expected);
  });

  it('cuts long names to at most MAX_NAME_BYTES of UTF-8, keeping the extension and whole characters', () => {
    const long = sanitizeFileName(`${'é'.repeat(300)}.jpeg`);
    expect(new TextEncoder().encode(long).length).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect(long.endsWith('.jpeg')).toBe(true);
    const emoji = sanitizeFileName('😀'.repeat(100));
    expect(new TextEncoder().encode(emoji).length).toBeLessThanOrEqual(MAX_NAME_BYTES);
    expect([...emoji].every((c) => c === '😀')).toBe(true);
  });

  it('refuses a non-string (programmer error)', () => {
    expect(() => sanitizeFileName(42 as unknown as string)).toThrow(TypeError);
  });

  it('numbers names before the extension', () => {
    expect(numberedName('a.txt', 0)).toBe('a.txt');
    expect(numberedName('a.txt', 2)).toBe('a (2).txt');
    expect(numberedName('README', 1)).toBe('README (1)');
  });
});
