/*
 * Tokens of kernel-internal services (not part of the SDK). SDK services are bound under the
 * SDK's own tokens (EventBus, SettingsService, Logger, ...).
 */

/** The profile database (`Kysely<any>`), unscoped: kernel code only, never handed to plugins. */
export const KernelDatabase = Symbol.for('discordopus.kernel.KernelDatabase');
