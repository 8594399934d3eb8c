/*
 * Markdown-ish message formatting as data, never HTML: the renderer turns each segment into a
 * text node inside <strong>/<em>/<code>/<a>, so a hostile message (`<img onerror=...>`) stays
 * text. Only http(s) and mailto addresses become links; anything else (`javascript:`, `data:`)
 * stays text. Links are never fetched (no previews).
 */

export interface MessageSegment {
  text: string;
  bold?: true;
  italic?: true;
  code?: true;
  /** Normalised address of a link; only `http:`, `https:` and `mailto:`. */
  href?: string;
}

interface Style {
  bold?: true;
  italic?: true;
}

/** Longest text formatted; longer messages are refused by the messaging plugin anyway. */
const MAX_FORMAT_LENGTH = 20_000;
const CODE = /`([^`\n]+)`/g;
const LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"'`]+/gi;
// Trailing punctuation ends a sentence, not an address ("see https://example.org.").
const TRAILING = /[.,;:!?)\]}]+$/;
const EMPHASIS = /\*\*(?=\S)([^\n]*?\S)\*\*|(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])|(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])/g;

/**
 * Splits a message into styled segments: `` `code` ``, `**bold**`, `*italic*` / `_italic_`, and
 * bare http(s)/mailto links. The concatenated segment texts equal the visible text.
 * @throws TypeError when `text` is not a string.
 */
export function formatMessage(text: string): MessageSegment[] {
  if (typeof text !== 'string') throw new TypeError('formatMessage: expected a string');
  if (text.length > MAX_FORMAT_LENGTH) return [{ text }];
  const out: MessageSegment[] = [];
  let last = 0;
  for (const match of text.matchAll(CODE)) {
    links(text.slice(last, match.index), out);
    out.push({ text: match[1]!, code: true });
    last = match.index + match[0].length;
  }
  links(text.slice(last), out);
  return merge(out);
}

/** Only these schemes become links. */
export function safeHref(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'mailto:') return undefined;
  if (url.protocol !== 'mailto:' && url.hostname === '') return undefined;
  return url.href;
}

function links(part: string, out: MessageSegment[]): void {
  let last = 0;
  for (const match of part.matchAll(LINK)) {
    const raw = match[0].replace(TRAILING, '');
    const href = safeHref(raw);
    if (!href) continue;
    emphasis(part.slice(last, match.index), {}, out);
    out.push({ text: raw, href });
    last = match.index + raw.length;
  }
  emphasis(part.slice(last), {}, out);
}

function emphasis(part: string, style: Style, out: MessageSegment[]): void {
  if (part === '') return;
  let last = 0;
  for (const match of part.matchAll(EMPHASIS)) {
    push(part.slice(last, match.index), style, out);
    if (match[1] !== undefined) emphasis(match[1], { ...style, bold: true }, out);
    else emphasis((match[2] ?? match[3])!, { ...style, italic: true }, out);
    last = match.index + match[0].length;
  }
  push(part.slice(last), style, out);
}

function push(text: string, style: Style, out: MessageSegment[]): void {
  if (text !== '') out.push({ text, ...style });
}

function merge(segments: MessageSegment[]): MessageSegment[] {
  const out: MessageSegment[] = [];
  for (const segment of segments) {
    const prev = out.at(-1);
    if (prev && !prev.href && !segment.href && prev.bold === segment.bold && prev.italic === segment.italic && prev.code === segment.code) {
      prev.text += segment.text;
    } else {
      out.push({ ...segment });
    }
  }
  return out;
}
