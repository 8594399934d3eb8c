import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '@discordopus/sdk';
import { DEFAULT_HOST_SETTINGS, hostSettingsPatchSchema, type HostSettings } from '../common/host-settings.ts';

export const HOST_SETTINGS_FILE = 'host-settings.json';

/** Reads and writes {@link HostSettings} in `<profileDir>/host-settings.json`. */
export class HostSettingsStore {
  private readonly file: string;

  constructor(private readonly profileDir: string) {
    this.file = path.join(profileDir, HOST_SETTINGS_FILE);
  }

  async read(): Promise<HostSettings> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_HOST_SETTINGS };
      throw error;
    }
    // A hand-edited or damaged file falls back to defaults key by key rather than blocking start-up.
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return { ...DEFAULT_HOST_SETTINGS };
    }
    const settings: HostSettings = { ...DEFAULT_HOST_SETTINGS };
    if (raw && typeof raw === 'object') {
      for (const [key, value] of Object.entries(raw)) {
        const single = hostSettingsPatchSchema.safeParse({ [key]: value });
        if (single.success) Object.assign(settings, single.data);
      }
    }
    return settings;
  }

  /**
   * Applies a partial update and returns the new settings.
   * @throws AppError `settings/invalid` naming the field and what it must look like.
   */
  async update(patch: unknown): Promise<HostSettings> {
    const parsed = hostSettingsPatchSchema.safeParse(patch);
    if (!parsed.success) {
      const why = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'} ${issue.message}`).join('; ');
      throw new AppError('settings/invalid', `These settings were not saved: ${why}.`);
    }
    const next = { ...(await this.read()), ...stripUndefined(parsed.data) };
    await mkdir(this.profileDir, { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, this.file);
    return next;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
