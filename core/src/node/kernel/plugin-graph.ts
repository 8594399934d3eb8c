import { AppError } from '@discordopus/sdk';

export interface GraphNode {
  id: string;
  dependsOn: readonly string[];
}

export interface PluginOrder {
  /** Ids in an order where every plugin comes after its dependencies (input order kept otherwise). */
  order: string[];
  /** Plugins that cannot start because a dependency is missing or they are in a cycle. */
  failures: Map<string, AppError>;
}

/**
 * Orders plugins by their dependencies. A missing dependency fails the plugin that needs it; a
 * cycle fails every plugin in it, naming them all. Plugins that merely depend on a failed one are
 * still ordered: the host refuses them when their dependency is not active.
 */
export function orderPlugins(nodes: readonly GraphNode[]): PluginOrder {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const failures = new Map<string, AppError>();

  for (const node of nodes) {
    const missing = node.dependsOn.filter((dep) => !byId.has(dep));
    if (missing.length > 0) {
      const list = missing.map((m) => `"${m}"`).join(', ');
      failures.set(node.id, new AppError('plugin/missing-dependency', `Plugin "${node.id}" depends on ${list}, which ${missing.length > 1 ? 'are' : 'is'} not installed. Install ${list} or remove "${node.id}".`, {
        details: { pluginId: node.id, missing },
      }));
    }
  }

  for (const cycle of findCycles(nodes, byId)) {
    const names = cycle.map((id) => `"${id}"`).join(', ');
    for (const id of cycle) {
      failures.set(id, new AppError('plugin/dependency-cycle', `Plugins ${names} depend on each other in a cycle (dependsOn), so none of them can start. Remove one of these dependencies.`, {
        details: { pluginId: id, cycle },
      }));
    }
  }

  // Depth-first post-order in input order: dependencies first, otherwise stable.
  const order: string[] = [];
  const visited = new Set<string>();
  const visit = (id: string, stack: Set<string>) => {
    if (visited.has(id) || stack.has(id)) return;
    stack.add(id);
    for (const dep of byId.get(id)?.dependsOn ?? []) if (byId.has(dep)) visit(dep, stack);
    stack.delete(id);
    visited.add(id);
    order.push(id);
  };
  for (const node of nodes) visit(node.id, new Set());
  return { order, failures };
}

/** Strongly connected components with more than one member (Tarjan), members in input order. */
function findCycles(nodes: readonly GraphNode[], byId: Map<string, GraphNode>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let counter = 0;
  const position = new Map(nodes.map((n, i) => [n.id, i]));

  const connect = (id: string) => {
    index.set(id, counter);
    low.set(id, counter);
    counter++;
    stack.push(id);
    onStack.add(id);
    for (const dep of byId.get(id)!.dependsOn) {
      if (!byId.has(dep)) continue;
      if (!index.has(dep)) {
        connect(dep);
        low.set(id, Math.min(low.get(id)!, low.get(dep)!));
      } else if (onStack.has(dep)) {
        low.set(id, Math.min(low.get(id)!, index.get(dep)!));
      }
    }
    if (low.get(id) === index.get(id)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== id);
      if (component.length > 1) cycles.push(component.sort((a, b) => position.get(a)! - position.get(b)!));
    }
  };
  for (const node of nodes) if (!index.has(node.id)) connect(node.id);
  return cycles;
}
