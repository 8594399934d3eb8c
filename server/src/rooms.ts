import type { UserId } from '@discordopus/sdk';

/** Every authenticated connection of a user joins this room; envelopes are emitted to it. */
export const userRoom = (userId: UserId): string => `u:${userId}`;
/** Connections watching a user's presence join this room. */
export const watchRoom = (userId: UserId): string => `w:${userId}`;
