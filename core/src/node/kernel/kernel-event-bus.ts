import { inject, injectable } from 'inversify';
import {
  AppError, DisposableCollection, Logger, toDisposable, type Disposable, type EventBus, type EventMap, type EventTopic,
} from '@discordopus/sdk';

type Handler = (payload: unknown) => void;

interface Subscription {
  handler: Handler;
  /** Who subscribed, for the log line when the handler throws. */
  owner: string;
}

/** Decides whether a plugin may subscribe to a topic; throws `plugin/permission-denied` if not. */
export type SubscribeCheck = (topic: string) => void;

/**
 * The event bus. The kernel publishes and subscribes to anything; each plugin gets a view from
 * {@link KernelEventBus.forPlugin} that publishes only its own topics and subscribes only where
 * its permissions allow. Handlers run synchronously in publish order; one that throws is
 * logged and the others still run.
 */
@injectable()
export class KernelEventBus implements EventBus {
  private readonly topics = new Map<string, Set<Subscription>>();

  constructor(@inject(Logger) private readonly log: Logger) {}

  publish<K extends EventTopic>(topic: K, payload: EventMap[K]): void {
    checkTopic('publish', topic);
    this.dispatch(topic, payload);
  }

  subscribe<K extends EventTopic>(topic: K, handler: (payload: EventMap[K]) => void): Disposable {
    return this.add(topic, handler as Handler, 'kernel');
  }

  /**
   * A plugin's view of the bus. Its subscriptions are also added to `owned`, so they end with
   * the plugin even when it forgets to push them into `ctx.subscriptions`.
   */
  forPlugin(pluginId: string, canSubscribe: SubscribeCheck, owned: DisposableCollection): EventBus {
    return {
      publish: (topic, payload) => {
        checkTopic('publish', topic);
        if (!topic.startsWith(`${pluginId}.`)) {
          throw new AppError('plugin/permission-denied', `Plugin "${pluginId}" may only publish topics that start with "${pluginId}." (tried "${topic}").`, {
            details: { pluginId, permission: `publish:${topic}` },
          });
        }
        this.dispatch(topic, payload);
      },
      subscribe: (topic, handler) => {
        checkTopic('subscribe', topic);
        if (typeof handler !== 'function') throw new TypeError('subscribe: expected a handler function');
        canSubscribe(topic);
        return owned.push(this.add(topic, handler as Handler, pluginId));
      },
    };
  }

  private add(topic: string, handler: Handler, owner: string): Disposable {
    checkTopic('subscribe', topic);
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    const subscription: Subscription = { handler, owner };
    set.add(subscription);
    return toDisposable(() => {
      set.delete(subscription);
      if (set.size === 0 && this.topics.get(topic) === set) this.topics.delete(topic);
    });
  }

  private dispatch(topic: string, payload: unknown): void {
    const set = this.topics.get(topic);
    if (!set) return;
    for (const subscription of [...set]) {
      try {
        subscription.handler(payload);
      } catch (error) {
        this.log.error('event handler threw', { topic, subscriber: subscription.owner, error });
      }
    }
  }
}

function checkTopic(method: string, topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || !/^[a-z][a-z0-9-]*\.[A-Za-z0-9.-]+$/.test(topic)) {
    throw new TypeError(`${method}: topic must be "<owner>.<name>", got ${JSON.stringify(topic)}`);
  }
}
