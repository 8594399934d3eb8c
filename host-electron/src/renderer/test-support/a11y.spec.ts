// @vitest-environment happy-dom
import { describe, expect, it } from 'vitest';
import { expectAccessible } from './a11y.ts';

function fragment(html: string): Element {
  const div = document.createElement('div');
  div.innerHTML = html;
  document.body.replaceChildren(div);
  return div;
}

describe('expectAccessible', () => {
  it('passes labelled controls', () => {
    expectAccessible(fragment('<h2 id="t">Title</h2><section aria-labelledby="t"><label for="a">Name</label><input id="a"><button>Go</button><label><input type="checkbox"> On</label><span role="img" aria-label="Online"></span></section>'));
  });

  it('reports unnamed controls, images without text, duplicate ids, dangling references and positive tabindex', () => {
    const root = fragment('<button></button><input><img src="data:,"><p id="x"></p><p id="x"></p><div aria-labelledby="nope"></div><label for="missing">M</label><a tabindex="2">z</a>');
    let problems: string[] = [];
    try {
      expectAccessible(root);
    } catch (error) {
      problems = String((error as Error).message).split('\n');
    }
    const text = problems.join('\n');
    for (const expected of ['no accessible name: <button', 'no accessible name: <input', 'image without a text alternative', 'duplicate id: x', 'aria-labelledby points nowhere: nope', 'label for a missing control: missing', 'positive tabindex']) {
      expect(text).toContain(expected);
    }
  });
});
