import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatMessage, safeHref } from './message-format.ts';

describe('formatMessage', () => {
  it('styles bold, italic and code, and keeps the rest as text', () => {
    expect(formatMessage('a **bold** and *it* or _it2_ with `x <b>`')).toEqual([
      { text: 'a ' }, { text: 'bold', bold: true }, { text: ' and ' }, { text: 'it', italic: true }, { text: ' or ' },
      { text: 'it2', italic: true }, { text: ' with ' }, { text: 'x <b>', code: true },
    ]);
  });

  it('nests italic inside bold and leaves formatting inside code alone', () => {
    expect(formatMessage('**a *b* c**')).toEqual([{ text: 'a ', bold: true }, { text: 'b', bold: true, italic: true }, { text: ' c', bold: true }]);
    expect(formatMessage('`**not bold** https://x.org`')).toEqual([{ text: '**not bold** https://x.org', code: true }]);
  });

  it('does not treat snake_case, 2*3*4 or lone markers as emphasis', () => {
    expect(formatMessage('snake_case_name 2*3*4 * a * ** b')).toEqual([{ text: 'snake_case_name 2*3*4 * a * ** b' }]);
  });

  it('links http(s) and mailto addresses, without trailing punctuation', () => {
    expect(formatMessage('see https://example.org/a_b?q=1. or mailto:bob@example.org!')).toEqual([
      { text: 'see ' }, { text: 'https://example.org/a_b?q=1', href: 'https://example.org/a_b?q=1' }, { text: '. or ' },
      { text: 'mailto:bob@example.org', href: 'mailto:bob@example.org' }, { text: '!' },
    ]);
  });

  it('keeps hostile markup and script links as plain text', () => {
    const hostile = '<img src=x onerror="window.__pwned=1"> javascript:alert(1) [x](javascript:alert(1)) data:text/html,<script>';
    const segments = formatMessage(hostile);
    expect(segments).toEqual([{ text: hostile }]);
    expect(segments.some((s) => s.href)).toBe(false);
  });

  it('refuses a non-string', () => {
    expect(() => formatMessage(42 as unknown as string)).toThrow(TypeError);
  });

  it('never loses or invents text, and links only safe schemes (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => {
      const segments = formatMessage(text);
      const visible = segments.map((s) => s.text).join('');
      // Markers are removed, never added: what stays is the text minus some `*`, `_` and backticks.
      expect(visible.length).toBeLessThanOrEqual(text.length);
      for (const s of segments) if (s.href) expect(s.href).toMatch(/^(https?|mailto):/);
    }));
  });
});

describe('safeHref', () => {
  it('accepts web and mail addresses only', () => {
    expect(safeHref('https://example.org')).toBe('https://example.org/');
    expect(safeHref('mailto:a@b.c')).toBe('mailto:a@b.c');
    expect(safeHref('javascript:alert(1)')).toBeUndefined();
    expect(safeHref('file:///etc/passwd')).toBeUndefined();
    expect(safeHref('not a url')).toBeUndefined();
  });
});
