/*
 * Cheap accessibility checks for component specs (the axe rules that matter most here and need
 * no layout): every control has an accessible name, every image a text alternative, ids are
 * unique, aria-labelledby and label[for] point at elements that exist, and nothing positive is
 * in the tab order.
 */

function accessibleName(el: Element, root: ParentNode): string {
  const labelledBy = el.getAttribute('aria-labelledby');
  if (labelledBy) return labelledBy.split(/\s+/).map((id) => root.querySelector(`#${CSS.escape(id)}`)?.textContent ?? '').join(' ').trim();
  const aria = el.getAttribute('aria-label');
  if (aria) return aria.trim();
  const id = el.getAttribute('id');
  if (id) {
    const label = root.querySelector(`label[for="${CSS.escape(id)}"]`);
    if (label?.textContent?.trim()) return label.textContent.trim();
  }
  const wrapping = el.closest('label');
  if (wrapping?.textContent?.trim()) return wrapping.textContent.trim();
  if (el.tagName === 'BUTTON' || el.getAttribute('role') === 'option') return (el.textContent ?? '').trim();
  return (el.getAttribute('title') ?? el.getAttribute('placeholder') ?? '').trim();
}

/** Fails with the list of problems found under `root`. */
export function expectAccessible(root: Element): void {
  const problems: string[] = [];
  const doc = root.ownerDocument;
  for (const el of root.querySelectorAll('button, input:not([type=hidden]), select, textarea, [role=option], [role=combobox], [role=listbox], [role=log]')) {
    if (!accessibleName(el, doc)) problems.push(`no accessible name: ${el.outerHTML.slice(0, 120)}`);
  }
  for (const el of root.querySelectorAll('img, [role=img]')) {
    if (!el.getAttribute('alt') && !el.getAttribute('aria-label')) problems.push(`image without a text alternative: ${el.outerHTML.slice(0, 120)}`);
  }
  const ids = [...root.querySelectorAll('[id]')].map((el) => el.id);
  for (const id of new Set(ids.filter((id, i) => ids.indexOf(id) !== i))) problems.push(`duplicate id: ${id}`);
  for (const el of root.querySelectorAll('[aria-labelledby]')) {
    for (const id of el.getAttribute('aria-labelledby')!.split(/\s+/)) if (!doc.getElementById(id)) problems.push(`aria-labelledby points nowhere: ${id}`);
  }
  for (const label of root.querySelectorAll('label[for]')) {
    if (!doc.getElementById(label.getAttribute('for')!)) problems.push(`label for a missing control: ${label.getAttribute('for')}`);
  }
  for (const el of root.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) problems.push(`positive tabindex: ${el.outerHTML.slice(0, 120)}`);
  }
  if (problems.length > 0) throw new Error(`Accessibility problems:\n${problems.join('\n')}`);
}
