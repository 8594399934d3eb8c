import { describe, expect, it } from 'vitest';
import { orderPlugins } from './plugin-graph.ts';

describe('orderPlugins', () => {
  it('puts dependencies first and keeps the input order otherwise', () => {
    const { order, failures } = orderPlugins([
      { id: 'ui', dependsOn: ['chat', 'files'] }, { id: 'alone', dependsOn: [] }, { id: 'chat', dependsOn: ['files'] }, { id: 'files', dependsOn: [] },
    ]);
    expect(order).toEqual(['files', 'chat', 'ui', 'alone']);
    expect(failures.size).toBe(0);
  });

  it('names missing dependencies and every member of each cycle', () => {
    const { order, failures } = orderPlugins([
      { id: 'aa', dependsOn: ['bb'] }, { id: 'bb', dependsOn: ['aa'] }, { id: 'cc', dependsOn: ['gone', 'aa'] }, { id: 'self-loop-free', dependsOn: [] },
    ]);
    expect(order).toHaveLength(4);
    expect(failures.get('aa')).toMatchObject({ code: 'plugin/dependency-cycle', message: expect.stringContaining('"aa", "bb"') });
    expect(failures.get('bb')?.code).toBe('plugin/dependency-cycle');
    expect(failures.get('cc')).toMatchObject({ code: 'plugin/missing-dependency', message: expect.stringContaining('"gone"') });
    expect(failures.has('self-loop-free')).toBe(false);
  });
});
