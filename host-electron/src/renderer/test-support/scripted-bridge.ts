import { flushPromises, mount, type ComponentMountingOptions } from '@vue/test-utils';
import type { Component } from 'vue';
import { BridgeError, type BridgeClient, type BridgeEvent } from '../../common/bridge-protocol.ts';
import { BridgeKey } from '../bridge/use-bridge.ts';

type Handler = (params: any) => unknown;

/**
 * A BridgeClient for component specs: each method answers from a handler the spec gives, and
 * `calls` records what the component sent. The host side is tested for real in
 * src/node/*.spec.ts and test/desktop-web.test.ts.
 */
export class ScriptedBridge implements BridgeClient {
  readonly calls: { method: string; params: unknown }[] = [];
  private readonly listeners = new Set<(event: BridgeEvent) => void>();

  constructor(private readonly handlers: Record<string, Handler> = {}) {}

  on(method: string, handler: Handler): this {
    this.handlers[method] = handler;
    return this;
  }

  async call<T>(method: string, params?: unknown): Promise<T> {
    this.calls.push({ method, params });
    const handler = this.handlers[method];
    if (!handler) throw new BridgeError('rpc/-32601', `Method not found: ${method}.`, -32601);
    return (await handler(params)) as T;
  }

  onEvent(listener: (event: BridgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: BridgeEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  callsOf(method: string): unknown[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }
}

/** Mounts `component` with `bridge` provided, as main.ts does. */
export function mountWithBridge<C extends Component>(component: C, bridge: BridgeClient, options: ComponentMountingOptions<C> = {} as ComponentMountingOptions<C>) {
  return mount(component, { ...options, attachTo: document.body, global: { ...options.global, provide: { ...options.global?.provide, [BridgeKey as symbol]: bridge } } });
}

/** Lets pending bridge answers and renders settle until `check` passes (no timers involved). */
export async function until(check: () => void, attempts = 100): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      check();
      return;
    } catch (error) {
      if (i >= attempts) throw error;
      await flushPromises();
    }
  }
}
