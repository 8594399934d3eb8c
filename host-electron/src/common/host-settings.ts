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
  /**
   * An optional TURN relay (at most one), for peers whose NATs block direct paths. Its credential
   * is the operator's shared one, kept with the other settings (not a secret of the user's).
   */
  turnServers: TurnServer[];
  theme: 'dark' | 'light';
  notifications: boolean;
  /** Notifications say only that a message came (and from whom), never its text. */
  hideNotificationText: boolean;
  /**
   * Devices calls start with (ids from the browser's enumerateDevices); a missing one means the
   * system default. A device that is gone when a call starts is replaced by the default, with a notice.
   */
  callDevices: CallDevices;
}

export interface CallDevices {
  audioInput?: string;
  videoInput?: string;
  audioOutput?: string;
}

export interface TurnServer {
  /** `turn:host:port` or `turns:host:port` (optionally `?transport=tcp`). */
  urls: string;
  username: string;
  credential: string;
}

export const DEFAULT_HOST_SETTINGS: HostSettings = {
  serverUrl: '',
  stunServers: [],
  turnServers: [],
  theme: 'dark',
  notifications: true,
  hideNotificationText: false,
  callDevices: {},
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

const turnServer = z.strictObject({
  urls: z.string().max(300).regex(/^turns?:[^\s:?]+(:\d{1,5})?(\?transport=(udp|tcp))?$/, 'must look like turn:host:port, e.g. turn:turn.example.org:3478'),
  username: z.string().min(1, 'is needed for a TURN server').max(200),
  credential: z.string().min(1, 'is needed for a TURN server').max(200),
});

// Chromium's ids are 64 hex digits or words like "default"; Firefox's are base64. No spaces, no control characters.
const deviceId = z.string().max(256).regex(/^[\x21-\x7e]+$/, 'must be a device id as the browser lists it');
const callDevices = z.strictObject({ audioInput: deviceId.optional(), videoInput: deviceId.optional(), audioOutput: deviceId.optional() });

/** Schema of a partial update; unknown keys are refused. */
export const hostSettingsPatchSchema = z.strictObject({
  serverUrl: serverUrl.optional(),
  stunServers: z.array(stunServer).max(16).optional(),
  turnServers: z.array(turnServer).max(1).optional(),
  theme: z.enum(['dark', 'light']).optional(),
  notifications: z.boolean().optional(),
  hideNotificationText: z.boolean().optional(),
  callDevices: callDevices.optional(),
});

export type HostSettingsPatch = z.infer<typeof hostSettingsPatchSchema>;

/** Explains why `patch` is refused, or `undefined` when it is acceptable. For forms and for the host. */
export function explainHostSettingsPatch(patch: unknown): string | undefined {
  const parsed = hostSettingsPatchSchema.safeParse(patch);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`).join('; ');
}

