import { z } from 'zod';

/**
 * Settings the host needs before a client exists (the server to connect to is chosen before
 * unlock) or that style the shell. Kept per profile in a small JSON file beside the encrypted
 * database: none of it is secret.
 */
export interface HostSettings {
  /** Signaling server URL; empty means the embedded server the host started (if any). */
  serverUrl: string;
  /** STUN servers (`stun:host:port`), used for peer links. */
  stunServers: string[];
  theme: 'dark' | 'light';
  notifications: boolean;
}

export const DEFAULT_HOST_SETTINGS: HostSettings = {
  serverUrl: '',
  stunServers: [],
  theme: 'dark',
  notifications: true,
};

const serverUrl = z
  .string()
  .max(500)
  .refine((value) => value === '' || /^(https?|wss?):\/\/[^\s/]+(\/\S*)?$/.test(value), {
    message: 'must be empty or an http(s):// or ws(s):// URL, e.g. https://signal.example.org',
  });
const stunServer = z
  .string()
  .max(300)
  .regex(/^stuns?:[^\s:]+(:\d{1,5})?$/, 'must look like stun:host:port, e.g. stun:stun.example.org:3478');

/** Schema of a partial update; unknown keys are refused. */
export const hostSettingsPatchSchema = z.strictObject({
  serverUrl: serverUrl.optional(),
  stunServers: z.array(stunServer).max(16).optional(),
  theme: z.enum(['dark', 'light']).optional(),
  notifications: z.boolean().optional(),
});

export type HostSettingsPatch = z.infer<typeof hostSettingsPatchSchema>;

/** Explains why `patch` is refused, or `undefined` when it is acceptable. For forms and for the host. */
export function explainHostSettingsPatch(patch: unknown): string | undefined {
  const parsed = hostSettingsPatchSchema.safeParse(patch);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`).join('; ');
}
