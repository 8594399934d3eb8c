import { LOOPBACK_SCTP_TUNING } from '@discordopus/core';

/**
 * RTCPeerConnection settings that the werift patch (patches/werift+0.24.4.patch,
 * docs/werift-tuning.md) makes available, as measured by bench/datachannel.bench.ts. They are the
 * ones peer links use on loopback (`loopbackOnly`); one definition, in core/src/node/peer/peer-link.ts.
 * Spread them into the config of BOTH ends, and only when both ends are werift on a path that
 * carries 16 KiB UDP datagrams (loopback, LAN): never towards Chromium (calls) or across the internet.
 */
export const TUNED_DATACHANNEL_CONFIG = LOOPBACK_SCTP_TUNING;
