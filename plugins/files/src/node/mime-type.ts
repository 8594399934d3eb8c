import path from 'node:path';

const BY_EXTENSION: Record<string, string> = {
  '.txt': 'text/plain', '.md': 'text/markdown', '.csv': 'text/csv', '.json': 'application/json', '.pdf': 'application/pdf',
  '.zip': 'application/zip', '.gz': 'application/gzip', '.tar': 'application/x-tar', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.svg': 'image/svg+xml', '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg', '.wav': 'audio/wav', '.mp4': 'video/mp4', '.webm': 'video/webm', '.mkv': 'video/x-matroska',
  '.html': 'text/html', '.doc': 'application/msword', '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

export const DEFAULT_MIME = 'application/octet-stream';

/** A best guess from the extension; the receiver never trusts it for anything but display. */
export function mimeFor(file: string): string {
  return BY_EXTENSION[path.extname(file).toLowerCase()] ?? DEFAULT_MIME;
}

/** A peer's MIME type if it looks like one, else the neutral default. */
export function sanitizeMime(offered: string): string {
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}$/i.test(offered) ? offered.toLowerCase() : DEFAULT_MIME;
}
