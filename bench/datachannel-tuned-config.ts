/**
 * RTCPeerConnection settings that the werift patch (patches/werift+0.24.4.patch,
 * docs/werift-tuning.md) makes available, as measured by bench/datachannel.bench.ts. Spread them
 * into the config of BOTH ends, and only when both ends are werift on a path that carries
 * 16 KiB UDP datagrams (loopback, LAN): never towards Chromium (calls) or across the internet.
 */
export const TUNED_DATACHANNEL_CONFIG = {
  sctp: {
    /** 16 KiB DATA chunks (stock 1,200 B): one DTLS record and one datagram each; 64 KiB = 5 packets, not 55. */
    maxPayloadSize: 16356,
    /** One SACK per event-loop turn instead of one per DATA packet; gaps are still SACKed at once. */
    sackCoalescing: true,
    /** Up to 16 new packets per transmit (stock 4), so a coalesced SACK refills the pipe. */
    maxBurst: 16,
    /** 4 MiB advertised receive window (stock 1 MiB). */
    receiveWindow: 4 * 1024 * 1024,
  },
  /** SO_RCVBUF/SO_SNDBUF of the ICE sockets (stock ~208 KiB; Linux caps it at net.core.rmem_max). */
  iceUdpSocketBufferSize: 4 * 1024 * 1024,
} as const;
