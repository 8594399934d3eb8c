import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's Prometheus metrics, in a registry of its own so several servers can share a process. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'discordopus_connections', help: 'Open socket connections (authenticated or not)', registers: [this.registry] });
  readonly authenticated = new Gauge({ name: 'discordopus_authenticated_connections', help: 'Authenticated connections', registers: [this.registry] });
  readonly authFailures = new Counter({
    name: 'discordopus_auth_failures_total', help: 'Refused authentications by reason', labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly envelopes = new Counter({
    name: 'discordopus_envelopes_total', help: 'Envelopes handled by outcome', labelNames: ['status'] as const, registers: [this.registry],
    collect: () => this.report(),
  });
  readonly bytesRelayed = new Counter({
    name: 'discordopus_relayed_bytes_total', help: 'Envelope payload bytes relayed', registers: [this.registry], collect: () => this.report(),
  });
  readonly rateLimited = new Counter({
    name: 'discordopus_rate_limited_total', help: 'Events or connections refused by a rate limit', labelNames: ['scope'] as const, registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'discordopus_rejected_events_total', help: 'Events refused as malformed or unknown', labelNames: ['code'] as const, registers: [this.registry],
  });
  readonly prekeysServed = new Counter({
    name: 'discordopus_prekey_bundles_served_total', help: 'Prekey bundles handed out', labelNames: ['one_time'] as const, registers: [this.registry],
  });

  /**
   * Counts of the per-envelope path as plain numbers: prom-client hashes the labels on every
   * `inc`, which showed in the relay profile. They reach the counters above when scraped.
   */
  readonly hot = { delivered: 0, offline: 0, bytes: 0 };
  private readonly reported = { delivered: 0, offline: 0, bytes: 0 };

  constructor(defaultMetrics: boolean) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'discordopus_' });
  }

  /** Moves the hot counts into the prom-client counters (called by their `collect` on a scrape). */
  private report(): void {
    const { hot, reported } = this;
    if (hot.delivered > reported.delivered) this.envelopes.inc({ status: 'delivered' }, hot.delivered - reported.delivered);
    if (hot.offline > reported.offline) this.envelopes.inc({ status: 'offline' }, hot.offline - reported.offline);
    if (hot.bytes > reported.bytes) this.bytesRelayed.inc(hot.bytes - reported.bytes);
    Object.assign(reported, hot);
  }
}
