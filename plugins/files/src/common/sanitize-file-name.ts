/*
 * A peer chooses the offered name, so it is hostile input: it must not leave the target folder,
 * name a device, hide itself, or smuggle control or bidi characters into a terminal or a UI.
 */

/** Longest sanitised name in UTF-8 bytes (most file systems allow 255; room for " (12).part"). */
export const MAX_NAME_BYTES = 200;

const WINDOWS_DEVICE = /^(con|prn|aux|nul|clock\$|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])$/i;
// C0/C1 controls, DEL, and the bidi/zero-width formatting characters that disguise extensions.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
const RESERVED = /[<>:"/\\|?*]/g;
const utf8 = new TextEncoder();

/** A safe base name for a received file (never empty, never a path, never a device). */
export function sanitizeFileName(offered: string): string {
  if (typeof offered !== 'string') throw new TypeError('sanitizeFileName: expected a string');
  // Keep only the last path component, whatever separator the sender's system uses.
  let name = offered.split(/[/\\]/).pop() ?? '';
  name = name.normalize('NFC').replace(INVISIBLE, '').replace(RESERVED, '_');
  // Leading dots hide files (and "." / ".." are directories); trailing dots and spaces are dropped by Windows.
  name = name.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  const dot = name.indexOf('.');
  const stem = dot === -1 ? name : name.slice(0, dot);
  if (WINDOWS_DEVICE.test(stem.trim())) name = `_${name}`;
  name = truncateKeepingExtension(name, MAX_NAME_BYTES);
  return name.length > 0 ? name : 'file';
}

function truncateKeepingExtension(name: string, maxBytes: number): string {
  if (utf8.encode(name).length <= maxBytes) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  let stem = ext ? name.slice(0, dot) : name;
  const budget = maxBytes - utf8.encode(ext).length;
  // Cut by code points so a surrogate pair is never split.
  const points = [...stem];
  while (points.length > 0 && utf8.encode(points.join('')).length > budget) points.pop();
  stem = points.join('').replace(/[.\s]+$/, '');
  return `${stem}${ext}`;
}

/** `report.pdf` → `report (n).pdf`, for picking a name that does not overwrite. */
export function numberedName(name: string, n: number): string {
  if (n === 0) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}
