import type { Contact } from '@discordopus/sdk';

/** A contact as JSON (bytes as lower-case hex), for the CLI's --json output and the RPC API. */
export interface ContactJson {
  userId: string;
  name: string;
  verified: boolean;
  identityKey?: string;
  identityChanged: boolean;
  addedAt: number;
  presence: string;
}

export function contactToJson(contact: Contact, presence: string): ContactJson {
  return {
    userId: contact.userId, name: contact.name, verified: contact.verified,
    ...(contact.identityKey ? { identityKey: Buffer.from(contact.identityKey).toString('hex') } : {}),
    identityChanged: contact.identityChanged, addedAt: contact.addedAt, presence,
  };
}
