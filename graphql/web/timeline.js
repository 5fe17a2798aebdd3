// The SVG timeline: one row per agreement, its time in force as a bar, and its events as marks
// (adoptions per party, entry into force, versions, notices, endings). Drawn by hand with the
// DOM, so the page needs no charting library. Keyboard: one tab stop; arrow keys move between
// items (left/right in a row, up/down between rows), Enter or Space opens the item.

const SVG = 'http://www.w3.org/2000/svg';
const DAY = 86400000;
const LABEL_WIDTH = 260;
const AXIS_HEIGHT = 30;
const ROW_HEIGHT = 30;

/** Days since 1970-01-01 of a `YYYY-MM-DD` date. */
export function dayOf(iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return Date.UTC(y, m - 1, d) / DAY;
}

/** The `YYYY-MM-DD` date of a day number. */
export function isoOf(day) {
  return new Date(Math.round(day) * DAY).toISOString().slice(0, 10);
}

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (parent) parent.appendChild(node);
  return node;
}

// The shape of each kind of mark, drawn around (0, 0).
function mark(kind, parent) {
  switch (kind) {
    case 'adopted':
      return el('circle', { r: 3.6, class: 'tl-adopted' }, parent);
    case 'declined':
      return el('circle', { r: 4, class: 'tl-declined' }, parent);
    case 'in-force':
      return el('path', { d: 'M0,-11 L0,6 M0,-11 L9,-7 L0,-3', class: 'tl-in-force' }, parent);
    case 'ended':
      return el('rect', { x: -5, y: -5, width: 10, height: 10, class: 'tl-ended' }, parent);
    case 'notice':
      return el('path', { d: 'M-6,-5 L6,-5 L0,5 Z', class: 'tl-notice' }, parent);
    case 'version':
      return el('path', { d: 'M0,-6 L6,0 L0,6 L-6,0 Z', class: 'tl-version' }, parent);
    default:
      return el('circle', { r: 4.5, class: 'tl-other' }, parent);
  }
}

/**
 * Row labels of at most `max` characters that tell the rows apart: a long title is cut at the end,
 * unless another row's title would then read the same (two agreements beginning "Samverkan kring
 * personer med missbruk…"); those keep their beginning and their end, with the middle cut.
 */
export function shortLabels(titles, max = 36) {
  const cut = (t) => (t.length > max ? `${t.slice(0, max - 2)}…` : t);
  const half = Math.floor((max - 1) / 2);
  const middle = (t) => (t.length > max ? `${t.slice(0, half)}…${t.slice(t.length - (max - 1 - half))}` : t);
  const first = titles.map(cut);
  const count = new Map();
  for (const label of first) count.set(label, (count.get(label) ?? 0) + 1);
  return titles.map((t, i) => (count.get(first[i]) > 1 ? middle(t) : first[i]));
}

/**
 * Draws `rows` into `container` between the dates `from` and `to`.
 * rows: [{ id, title, spans: [[fromIso, untilIso|null]], items: [{ key, date, kind, label }] }]
 * Calls `onSelect(item, row)` when an item is opened and `onPickDate(iso)` when the axis is clicked.
 */
export function drawTimeline(container, { rows, from, to, at, selectedKey, focusKey, onSelect, onPickDate }) {
  const width = Math.max(720, container.clientWidth || 960);
  const height = AXIS_HEIGHT + rows.length * ROW_HEIGHT + 8;
  const d0 = dayOf(from);
  const d1 = dayOf(to);
  const x0 = LABEL_WIDTH + 10;
  const x1 = width - 14;
  const x = (iso) => x0 + ((dayOf(iso) - d0) / (d1 - d0)) * (x1 - x0);
  const visible = (iso) => iso >= from && iso <= to;

  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'timeline-svg',
    role: 'group',
    'aria-roledescription': 'timeline',
    'data-testid': 'timeline-svg',
  });
  const title = el('title', {}, svg);
  title.textContent = container.getAttribute('aria-label') ?? 'timeline';

  // The axis: a tick per year (and per quarter when the span is short), clickable to pick a date.
  const axis = el('g', { class: 'tl-axis' }, svg);
  const pick = el('rect', { x: x0, y: 0, width: x1 - x0, height: AXIS_HEIGHT, class: 'tl-axis-hit' }, axis);
  pick.addEventListener('click', (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    const day = d0 + ((px - x0) / (x1 - x0)) * (d1 - d0);
    onPickDate(isoOf(Math.max(d0, Math.min(d1, day))));
  });
  const firstYear = Number(from.slice(0, 4));
  const lastYear = Number(to.slice(0, 4));
  const years = lastYear - firstYear;
  // The chosen date's label stands on the year labels' line: a year label it would cover is left out.
  const atPx = visible(at) ? x(at) : null;
  const atRight = atPx !== null && atPx > x1 - 60;
  const coveredByAt = (px) => atPx !== null && (atRight ? px > atPx - 84 && px < atPx + 4 : px > atPx - 34 && px < atPx + 84);
  for (let year = firstYear; year <= lastYear + 1; year += 1) {
    for (const month of years <= 4 ? [1, 4, 7, 10] : [1]) {
      const iso = `${year}-${String(month).padStart(2, '0')}-01`;
      if (!visible(iso)) continue;
      const px = x(iso);
      el('line', { x1: px, x2: px, y1: AXIS_HEIGHT - (month === 1 ? 10 : 5), y2: height, class: month === 1 ? 'tl-year' : 'tl-quarter' }, axis);
      if (month === 1 && (years <= 10 || year % 2 === 0) && !coveredByAt(px)) {
        const label = el('text', { x: px + 3, y: AXIS_HEIGHT - 12, class: 'tl-year-label' }, axis);
        label.textContent = String(year);
      }
    }
  }

  const flat = [];
  const labels = shortLabels(rows.map((row) => row.title));
  rows.forEach((row, r) => {
    const top = AXIS_HEIGHT + r * ROW_HEIGHT;
    const mid = top + ROW_HEIGHT / 2;
    const g = el('g', { class: 'tl-row', role: 'group', 'aria-label': row.title, 'data-testid': `timeline-row-${row.id}` }, svg);
    if (r % 2 === 0) el('rect', { x: 0, y: top, width, height: ROW_HEIGHT, class: 'tl-stripe' }, g);
    const label = el('text', { x: 8, y: mid + 4, class: 'tl-label' }, g);
    label.textContent = labels[r];
    el('title', {}, label).textContent = row.title;

    for (const [start, until] of row.spans) {
      const a = Math.max(x0, x(start < from ? from : start));
      const b = Math.min(x1, until ? x(until) : x1);
      if (b > a) el('rect', { x: a, y: mid + 3, width: b - a, height: 6, rx: 3, class: 'tl-span' }, g);
    }

    // Marks on the same pixel column are stacked so that each party's dot stays visible.
    const columns = new Map();
    const items = row.items.filter((item) => visible(item.date));
    for (const item of items) {
      const px = Math.round(x(item.date));
      const column = Math.round(px / 4);
      const lane = columns.get(column) ?? 0;
      columns.set(column, lane + 1);
      const dy = item.kind === 'adopted' || item.kind === 'declined' ? -4 - (lane % 3) * 4 : -2;
      const node = el('g', {
        class: `tl-item${item.key === selectedKey ? ' tl-selected' : ''}`,
        transform: `translate(${px},${mid + dy})`,
        role: 'button',
        tabindex: -1,
        'aria-label': `${item.date}: ${item.label}`,
        'aria-pressed': item.key === selectedKey ? 'true' : 'false',
        'data-testid': `timeline-item`,
        'data-kind': item.kind,
        'data-key': item.key,
      }, g);
      mark(item.kind, node);
      el('circle', { r: 9, class: 'tl-hit' }, node);
      el('title', {}, node).textContent = `${item.date} – ${item.label}`;
      node.addEventListener('click', () => onSelect(item, row));
      flat.push({ node, item, row: r, px });
    }
  });

  // The chosen date.
  if (visible(at)) {
    const px = x(at);
    el('line', { x1: px, x2: px, y1: 4, y2: height, class: 'tl-at' }, svg);
    const label = el('text', { x: px, y: 12, class: 'tl-at-label', 'text-anchor': px > x1 - 60 ? 'end' : 'start' }, svg);
    label.textContent = ` ${at} `;
  }

  // Roving tab stop: the focused (or selected, or first) item is the only one in the tab order.
  const start = flat.find((f) => f.item.key === focusKey) ?? flat.find((f) => f.item.key === selectedKey) ?? flat[0];
  if (start) start.node.setAttribute('tabindex', '0');
  const move = (from, to) => {
    if (!to) return;
    from.node.setAttribute('tabindex', '-1');
    to.node.setAttribute('tabindex', '0');
    to.node.focus();
  };
  svg.addEventListener('keydown', (event) => {
    const index = flat.findIndex((f) => f.node === document.activeElement);
    if (index < 0) return;
    const here = flat[index];
    let next = null;
    switch (event.key) {
      case 'ArrowRight':
        next = flat[index + 1]?.row === here.row ? flat[index + 1] : null;
        break;
      case 'ArrowLeft':
        next = flat[index - 1]?.row === here.row ? flat[index - 1] : null;
        break;
      case 'ArrowDown':
      case 'ArrowUp': {
        const step = event.key === 'ArrowDown' ? 1 : -1;
        for (let r = here.row + step; r >= 0 && r < rows.length && !next; r += step) {
          const candidates = flat.filter((f) => f.row === r);
          if (candidates.length) next = candidates.reduce((a, b) => (Math.abs(b.px - here.px) < Math.abs(a.px - here.px) ? b : a));
        }
        break;
      }
      case 'Home':
        next = flat.find((f) => f.row === here.row);
        break;
      case 'End':
        next = flat.filter((f) => f.row === here.row).pop();
        break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        onSelect(here.item, rows[here.row]);
        return;
      default:
        return;
    }
    event.preventDefault();
    move(here, next);
  });

  container.replaceChildren(svg);
}
