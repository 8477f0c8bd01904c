/* DOM building for both pages: elements, icons, reordering lists in place, toasts.
 *
 * The security rule of the pages lives here: user text (messages, names, room names, server
 * messages) reaches the DOM only as text, through textContent or text nodes. Nothing in these
 * modules or the pages parses HTML; never use innerHTML.
 */

/**
 * Creates an element. `props`: `class`, `text` (set as textContent), `dataset` (an object),
 * anything else becomes an attribute (`true` an empty one; null, undefined and false none).
 * Strings among `children` become text nodes, never markup.
 */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children) if (c != null && c !== false) node.append(c);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * An inline 24×24 SVG icon of one path (each page keeps its own set of paths and styles them in
 * its CSS). `filled` paints the path with currentColor; otherwise the CSS strokes it.
 */
export function svgIcon(d, { cls = 'icon', size = null, filled = false } = {}) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  if (size) {
    svg.setAttribute('width', String(size));
    svg.setAttribute('height', String(size));
  }
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', cls);
  const path = document.createElementNS(SVG_NS, 'path');
  if (filled) path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', d || '');
  svg.append(path);
  return svg;
}

/**
 * Makes `container`'s children exactly `nodes`, in order, moving the nodes already there instead
 * of rebuilding them (so focus, scroll and transitions survive a re-render).
 */
export function reconcile(container, nodes) {
  let cur = container.firstChild;
  for (const node of nodes) {
    if (node === cur) { cur = cur.nextSibling; continue; }
    container.insertBefore(node, cur);
  }
  while (cur) { const next = cur.nextSibling; container.removeChild(cur); cur = next; }
}

/** A transient notice, stacked in `container`; `kind` is info, success or error (.toast-<kind>). */
export function toast(container, text, kind = 'info') {
  const node = h('div', { class: `toast toast-${kind}` }, text);
  container.append(node);
  const stay = kind === 'error' ? 6000 : 3500;
  setTimeout(() => node.classList.add('leaving'), stay);
  setTimeout(() => node.remove(), stay + 400);
}
