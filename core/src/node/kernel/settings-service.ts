import { inject, injectable } from 'inversify';
import type { Kysely } from 'kysely';
import { AppError, Emitter, Logger, type SettingContribution, type SettingValue, type SettingsService } from '@discordopus/sdk';
import { ContributionService, type ContributionServiceImpl } from './contribution-service.ts';
import { KernelDatabase } from './kernel-tokens.ts';

/** The table created by the kernel migration `0010-kernel-settings`. */
export const SETTINGS_TABLE = 'kernel_settings';

/**
 * Settings of the profile, persisted in `kernel_settings` (one JSON value per key). A key
 * without a stored value reads as the default of its setting contribution. `get` is
 * synchronous: all values are loaded once at start.
 */
@injectable()
export class SettingsServiceImpl implements SettingsService {
  private readonly values = new Map<string, SettingValue>();
  private readonly changed: Emitter<{ key: string; value: SettingValue | undefined }>;
  readonly onDidChange;

  constructor(
    @inject(KernelDatabase) private readonly db: Kysely<any>,
    @inject(ContributionService) private readonly contributions: ContributionServiceImpl,
    @inject(Logger) log: Logger,
  ) {
    this.changed = new Emitter((error) => log.error('settings listener threw', { error }));
    this.onDidChange = this.changed.event;
  }

  /** Reads every stored value; call once before use. */
  async load(): Promise<void> {
    const rows = await this.db.selectFrom(SETTINGS_TABLE).select(['key', 'value']).execute();
    this.values.clear();
    for (const row of rows as { key: string; value: string }[]) {
      try {
        this.values.set(row.key, JSON.parse(row.value) as SettingValue);
      } catch {
        // A value this version cannot read falls back to the default rather than blocking startup.
      }
    }
  }

  get<T extends SettingValue>(key: string): T | undefined {
    checkKey('get', key);
    return (this.values.get(key) ?? this.contributions.setting(key)?.default) as T | undefined;
  }

  /**
   * Stores `value` under `key`.
   * @throws AppError `settings/invalid-value` when the value does not fit the setting's declared type.
   */
  async set(key: string, value: SettingValue): Promise<void> {
    checkKey('set', key);
    checkValue(key, value, this.contributions.setting(key));
    const json = JSON.stringify(value);
    await this.db
      .insertInto(SETTINGS_TABLE)
      .values({ key, value: json, updated_at: Date.now() })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: json, updated_at: Date.now() }))
      .execute();
    this.values.set(key, Array.isArray(value) ? Object.freeze([...value]) : value);
    this.changed.fire({ key, value });
  }

  /** Removes the stored value, so the key reads as its default again. */
  async reset(key: string): Promise<void> {
    checkKey('reset', key);
    await this.db.deleteFrom(SETTINGS_TABLE).where('key', '=', key).execute();
    this.values.delete(key);
    this.changed.fire({ key, value: this.get(key) });
  }

  dispose(): void {
    this.changed.dispose();
  }
}

function checkKey(method: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) throw new TypeError(`${method}: expected a setting key string`);
}

function checkValue(key: string, value: unknown, contribution: SettingContribution | undefined): void {
  const isList = Array.isArray(value) && value.every((item) => typeof item === 'string');
  const isScalar = typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
  if (!isList && !isScalar) {
    throw new AppError('settings/invalid-value', `Setting "${key}" cannot hold ${describe(value)}: use a string, a finite number, a boolean or a list of strings.`, { details: { key } });
  }
  if (!contribution) return;
  const ok = {
    string: typeof value === 'string',
    number: typeof value === 'number',
    boolean: typeof value === 'boolean',
    enum: typeof value === 'string' && (contribution.options ?? []).includes(value),
    'string-list': isList,
  }[contribution.type];
  if (!ok) {
    const expected = contribution.type === 'enum' ? `one of ${JSON.stringify(contribution.options ?? [])}` : `a ${contribution.type}`;
    throw new AppError('settings/invalid-value', `Setting "${key}" expects ${expected}, got ${describe(value)}.`, { details: { key } });
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : typeof value === 'object' ? 'an object' : String(value);
}
