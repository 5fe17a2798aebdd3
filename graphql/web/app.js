// The dashboard: what applied on a date, as the ledger knew it at an instant. Everything comes
// from the public GraphQL API (see api.js), so this file doubles as an example for other
// dashboards. All text from the ledger goes into the page as text nodes, never as HTML.

import { query, setToken, subscribe, token } from './api.js';
import { drawTimeline, dayOf, isoOf } from './timeline.js';
import { currentLang, sentence, setLang, t, term, translatePage } from './i18n.js';

const FIRST_DAY = '2012-01-01';
const DEADLINE_MONTHS = 6;
const FEED_LIMIT = 40;
// Rows of the agreements table per page, and rows of the timeline: a ledger may hold thousands of
// agreements, and the page only ever asks for a page of them (filtered and ordered on the server).
const PAGE_SIZE = 50;
const TIMELINE_ROWS = 50;
// Agreements with a steward, for the organisation card ("stewards …"): a bounded list.
const STEWARDED_LIMIT = 500;

// One page of the agreements table, as the server filters and orders it.
const AGREEMENT_PAGE = `
  totalCount inForceCount
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  nodes { id title kind status inForce inForceFrom inForceUntil version steward { id name } parties { bound } }`;

const AGREEMENTS_QUERY = `
query Agreements($at: Date!, $known: DateTime, $filter: AgreementFilter, $first: Int, $after: String, $last: Int, $before: String) {
  agreementsConnection(at: $at, asKnownAt: $known, filter: $filter, first: $first, after: $after, last: $last, before: $before) {${AGREEMENT_PAGE}
  }
}`;

// What applied on `at` as known at `known` (null: now), in two requests after the table's own
// page (AGREEMENTS_QUERY, asked first and drawn as soon as it comes): each county-wide answer is a
// fold of its own, and a large ledger has many to fold.
const STATE_QUERY = `
query Dashboard($at: Date!, $known: DateTime) {
  ledger { position headHash }
  hok: agreement(id: "hok", at: $at, asKnownAt: $known) {
    id title kind status inForce inForceFrom version
    versions { number recommendedOn responseDue }
    parties { party { id name } adoptedOn declinedOn noticeGivenOn leavesOn bound }
    pendingParties { id name }
  }
  findings(at: $at, asKnownAt: $known) { kind subject description arose }
}`;

const CONTEXT_QUERY = `
query DashboardContext($at: Date!, $known: DateTime, $until: Date!) {
  parties(at: $at, asKnownAt: $known) { id name kind }
  stewarded: agreementsConnection(at: $at, asKnownAt: $known, filter: { stewarded: true }, first: ${STEWARDED_LIMIT}) {
    nodes { id title steward { id } }
  }
  groups(at: $at, asKnownAt: $known) {
    id name kind active mandate establishedOn endsOn parent { id }
    members { person { name title } role represents from until }
  }
  cases(at: $at, asKnownAt: $known) {
    id kind level status principled summary agreement { id title } history { effective }
  }
  deadlines(from: $at, to: $until, asKnownAt: $known) { on kind agreement parties group description }
}`;

// The whole history of the agreements the table's search and kind select (at most TIMELINE_ROWS of
// them) as known at `known`: each one's own events (its `because` on the last day shown), and what
// the rules derived from them (its `changes`).
const TIMELINE_QUERY = `
query Timeline($end: Date!, $known: DateTime, $filter: AgreementFilter) {
  parties(asKnownAt: $known) { id name }
  agreementsConnection(at: $end, asKnownAt: $known, filter: $filter, first: ${TIMELINE_ROWS}) {
    totalCount
    nodes {
      id title kind
      because { id stream type effective data }
      changes(from: "${FIRST_DAY}", to: $end) { on kind agreement }
    }
  }
}`;

const EVENT_FIELDS = `id position stream type effective recordedAt recordedBy data hash
  source { title reference url note }`;

const FEED_SUBSCRIPTION = `
subscription Feed($from: Int) {
  events(fromPosition: $from) { id position stream type effective recordedAt recordedBy data }
}`;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function todayIso() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function addMonths(iso, months) {
  const [y, m, d] = iso.split('-').map(Number);
  const total = y * 12 + (m - 1) + months;
  const year = Math.floor(total / 12);
  const month = (total % 12) + 1;
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const pad = (n) => String(n).padStart(2, '0');
  return `${year}-${pad(month)}-${pad(Math.min(d, last))}`;
}

// Instants as YYYY-MM-DD HH:MM in the reader's time zone, in both languages: the ledger's dates are
// ISO everywhere, and an auditor compares them by eye.
function formatInstant(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// Whether `iso` is a real calendar day in YYYY-MM-DD (2022-02-30 is not).
function isDay(iso) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(iso)) return false;
  const [y, m, d] = iso.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

// The event types that decide something (an answer, a decision, a change of who is bound), shown
// first in the evidence of a change: for an entry into force, the adoption that completed it.
const DECIDING = new Set([
  'PartyAdopted', 'PartyDeclined', 'VersionDecided', 'RequiredPartiesChanged', 'ContinuationDecided',
  'AgreementTerminated', 'AgreementSuperseded', 'NoticeGiven', 'NoticeWithdrawn', 'CaseResolved',
]);

// ---------------------------------------------------------------------------------------------
// State of the page

const today = todayIso();
const lastDay = addMonths(today, 24);

const state = {
  at: today,
  known: null, // an RFC 3339 instant, or null for "now"
  timelineFrom: '2021-01-01',
  onlyInForce: false,
  search: '',
  kind: '',
  status: '',
  page: null, // the agreements table's page: { totalCount, inForceCount, pageInfo, nodes }
  pageStart: 1, // the position of the page's first row in the filtered list, from 1
  readyMs: null, // when the page was first ready, ms after navigation started
  tableReadyMs: null, // when the agreements table first showed its page, ms after navigation started
  selectedKey: null,
  names: new Map(),
  dashboard: null,
  timelineRows: [],
  loadedPosition: 0, // the ledger head the shown data was read at
  feedPosition: 0, // the last event the feed has shown
};

function name(id) {
  if (id === null || id === undefined) return '';
  return state.names.get(id) ?? id;
}

function remember(list, label = 'name') {
  for (const item of list ?? []) state.names.set(item.id, item[label]);
}

// The address's state. What cannot be read is named in the status line (in the page's language)
// and replaced by the default, never an empty page.
let addressProblems = [];
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  setLang(params.get('lang') ?? localStorage.getItem('samverkan.lang') ?? 'sv');
  addressProblems = [];
  const at = params.get('at');
  if (at !== null) {
    if (isDay(at)) state.at = at;
    else addressProblems.push(t('badDate', at));
  }
  const known = params.get('known');
  if (known !== null) {
    if (!Number.isNaN(new Date(known).getTime())) state.known = new Date(known).toISOString();
    else addressProblems.push(t('badInstant', known));
  }
  const from = params.get('from');
  if (from !== null) {
    if (isDay(from)) state.timelineFrom = from;
    else addressProblems.push(t('badDate', from));
  }
}

function writeHash() {
  const params = new URLSearchParams({ at: state.at });
  if (state.known) params.set('known', state.known);
  if (state.timelineFrom !== '2021-01-01') params.set('from', state.timelineFrom);
  if (currentLang() !== 'sv') params.set('lang', currentLang());
  history.replaceState(null, '', `#${params}`);
}

function setStatus(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

// ---------------------------------------------------------------------------------------------
// Loading

let stateSeq = 0;
let timelineSeq = 0;
// The timeline is first asked for once the rest of the page is drawn: it lies below the fold, and
// on a large ledger its request would compete with the page's own for the server's cores.
let timelineStarted = false;

// The table's filter as the API takes it (null fields: no condition).
function agreementFilter() {
  return {
    search: state.search || null,
    kinds: state.kind ? [state.kind] : null,
    statuses: state.status ? [state.status] : null,
    inForce: state.onlyInForce ? true : null,
  };
}

// The timeline follows the table's search and kind (not the status: that is of one day); local
// agreements only when asked for.
function timelineFilter() {
  return {
    search: state.search || null,
    kinds: state.kind ? [state.kind] : ['MAIN', 'GUIDELINE', 'SUBJECT_AREA', 'SUPPLEMENTARY'],
  };
}

// The panels besides the table (findings, HÖK, cases, deadlines, organisation): on a large ledger
// their answers come after the table's page, so until they are drawn their cards are marked busy,
// and the first time (nothing drawn yet) they say they are loading rather than look empty.
const SLOW_PANELS = ['findings-body', 'hok-line', 'ladder', 'deadlines', 'org'];

function panelsLoading(loading) {
  for (const id of SLOW_PANELS) {
    const card = $(id).closest('section');
    card.setAttribute('aria-busy', String(loading));
    card.dataset.loading = String(loading);
    if (state.dashboard) continue;
    const el = $(id);
    if (!loading) el.replaceChildren(); // a failed first load: the status line says why
    else if (el.tagName === 'P') el.textContent = t('loading');
    else el.replaceChildren(h(el.tagName === 'DIV' ? 'p' : 'li', { class: 'muted', 'data-testid': 'panel-loading' }, t('loading')));
  }
}

async function loadDashboard() {
  const seq = ++stateSeq;
  const tableSeq = ++pageSeq; // a page asked for before this one would belong to the old date
  $('main').dataset.ready = 'false';
  setStatus(t('loading'));
  panelsLoading(true);
  const at = state.at;
  const known = state.known;
  // The table's page first, and drawn the moment it comes: it is what a reader looks for, and on
  // a large ledger the rest of the page (findings, organisation, deadlines) takes longer. The rest
  // is asked for only once the table has its answer: the server runs documents priced as heavy
  // work (each of these three is) a few at a time – one at a time on two cores – in the order they
  // arrive, and a page asked for beside them could wait behind both.
  const table = query(AGREEMENTS_QUERY, { at, known, filter: agreementFilter(), first: PAGE_SIZE }).then((data) => {
    if (seq !== stateSeq || tableSeq !== pageSeq) return;
    state.page = data.agreementsConnection;
    state.pageStart = 1;
    remember(state.page.nodes, 'title');
    renderAgreements();
    if (state.tableReadyMs === null) state.tableReadyMs = Math.round(performance.now());
    $('agreements-table').dataset.readyMs = String(state.tableReadyMs);
  });
  try {
    await table;
    if (seq !== stateSeq) return;
    const [core, context] = await Promise.all([
      query(STATE_QUERY, { at, known }),
      query(CONTEXT_QUERY, { at, known, until: addMonths(at, DEADLINE_MONTHS) }),
    ]);
    if (seq !== stateSeq) return;
    const data = { ...core, ...context };
    state.dashboard = data;
    state.loadedPosition = Math.max(state.loadedPosition, data.ledger.position);
    remember(data.parties);
    remember(data.stewarded.nodes, 'title');
    if (data.hok) remember([data.hok], 'title');
    remember(data.groups);
    renderDashboard();
    panelsLoading(false);
    setStatus(addressProblems.join(' '), addressProblems.length > 0);
    if (state.readyMs === null) state.readyMs = Math.round(performance.now());
    Object.assign($('main').dataset, { ready: 'true', at, known: known ?? 'now', readyMs: String(state.readyMs) });
    startFeed(data.ledger.position);
    if (!timelineStarted) {
      timelineStarted = true;
      loadTimeline();
    }
  } catch (error) {
    if (seq !== stateSeq) return;
    panelsLoading(false);
    if (error.code === 'UNAUTHENTICATED') {
      // This server reads only for a token holder: ask for one.
      setStatus(t(token() ? 'tokenRefused' : 'tokenNeeded', error.message), true);
      $('token').focus();
      return;
    }
    setStatus(`${t('loadFailed')}: ${error.message}`, true);
  }
}

let pageSeq = 0;

// Another page of the table, or the first page of another filter: only the table is asked for.
// `cursor` is { after } or { before } (or nothing: the first page).
async function loadAgreements(cursor = {}, start = 1) {
  const seq = ++pageSeq;
  const table = $('agreements-table');
  table.dataset.ready = 'false';
  const variables = { at: state.at, known: state.known, filter: agreementFilter() };
  if (cursor.before) Object.assign(variables, { before: cursor.before, last: PAGE_SIZE });
  else Object.assign(variables, { after: cursor.after ?? null, first: PAGE_SIZE });
  try {
    const data = await query(AGREEMENTS_QUERY, variables);
    if (seq !== pageSeq) return;
    state.page = data.agreementsConnection;
    state.pageStart = start;
    remember(state.page.nodes, 'title');
    renderAgreements();
    setStatus(addressProblems.join(' '), addressProblems.length > 0);
  } catch (error) {
    if (seq !== pageSeq) return;
    setStatus(`${t('loadFailed')}: ${error.message}`, true);
  }
}

async function loadTimeline() {
  const seq = ++timelineSeq;
  try {
    const data = await query(TIMELINE_QUERY, { end: lastDay, known: state.known, filter: timelineFilter() });
    if (seq !== timelineSeq) return;
    remember(data.parties);
    const shown = data.agreementsConnection;
    remember(shown.nodes, 'title');
    state.timelineRows = timelineRows(shown.nodes);
    const scope = $('timeline-scope');
    scope.hidden = shown.totalCount <= shown.nodes.length;
    scope.textContent = scope.hidden ? '' : t('timelineShown', shown.nodes.length, shown.totalCount);
    renderTimeline();
  } catch (error) {
    if (seq !== timelineSeq) return;
    $('timeline').replaceChildren(h('p', { class: 'error' }, `${t('loadFailed')}: ${error.message}`));
  }
}

// The kind of mark each event type gets; types not listed are not drawn.
const EVENT_MARKS = {
  PartyAdopted: 'adopted',
  PartyDeclined: 'declined',
  NoticeGiven: 'notice',
  NoticeWithdrawn: 'other',
  VersionRecommended: 'version',
  VersionDecided: 'version',
  AgreementTerminated: 'ended',
  AgreementSuperseded: 'ended',
  ContinuationDecided: 'other',
  InterpretationIssued: 'other',
  RequiredPartiesChanged: 'other',
};

const CHANGE_MARKS = { ENTERED_INTO_FORCE: 'in-force', ENDED: 'ended', VERSION_CHANGED: 'version', STATUS_CHANGED: 'other' };
const KIND_ORDER = ['MAIN', 'GUIDELINE', 'SUBJECT_AREA', 'SUPPLEMENTARY', 'LOCAL'];

function timelineRows(agreements) {
  const rows = [];
  for (const agreement of agreements) {
    const own = agreement.because.filter((e) => e.stream === `agreement/${agreement.id}`);
    const items = [];
    for (const event of own) {
      let kind = EVENT_MARKS[event.type];
      // A first version's proposal is the agreement's start; later ones are revisions.
      if (event.type === 'VersionProposed' && event.data?.version > 1) kind = 'version';
      if (!kind) continue;
      items.push({
        key: `e:${event.id}`,
        date: event.effective,
        kind,
        label: sentence(event.type, event.data, name, event.type),
        event: event.id,
      });
    }
    const changes = agreement.changes.filter((c) => CHANGE_MARKS[c.kind]);
    const spans = [];
    for (const change of changes) {
      if (change.kind === 'ENTERED_INTO_FORCE') spans.push([change.on, null]);
      if (change.kind === 'ENDED' && spans.length && !spans[spans.length - 1][1]) spans[spans.length - 1][1] = change.on;
      // A termination's own event already marks the day; the derived end would sit on top of it.
      if (change.kind === 'ENDED' && items.some((i) => i.kind === 'ended' && Math.abs(dayOf(i.date) - dayOf(change.on)) <= 1)) continue;
      // So does a recommendation or decision for the status it brings.
      if (change.kind === 'STATUS_CHANGED' && items.some((i) => i.event && i.date === change.on)) continue;
      items.push({
        key: `c:${agreement.id}:${change.kind}:${change.on}`,
        date: change.on,
        kind: CHANGE_MARKS[change.kind],
        label: sentence(change.kind, {}, name, change.kind),
        change: { kind: change.kind, on: change.on, agreement: agreement.id },
      });
    }
    items.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    const first = own[0]?.effective ?? FIRST_DAY;
    const last = [...items.map((i) => i.date), ...spans.flat().filter(Boolean)].reduce((a, b) => (a > b ? a : b), first);
    rows.push({ id: agreement.id, title: agreement.title, kind: agreement.kind, first, last, spans, items });
  }
  rows.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.first < b.first ? 1 : -1));
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function badge(status) {
  return h('span', { class: `badge status-${status.toLowerCase().replace(/_/g, '-')}`, 'data-status': status }, term(status));
}

function renderDashboard() {
  const data = state.dashboard;
  if (!data) return;
  renderHok(data.hok);
  renderAgreements();
  renderLadder(data.cases);
  renderDeadlines(data.deadlines);
  renderOrganisation(data.groups);
  renderFindings(data.findings);
  renderHistoryBanner();
  $('ledger-head').textContent = `${t('position')} ${data.ledger.position} · ${data.ledger.headHash.slice(0, 16)}…`;
}

function renderHok(hok) {
  const card = document.querySelector('[data-testid="hok-card"]');
  const lists = { adopted: $('hok-adopted'), pending: $('hok-pending'), notice: $('hok-notice') };
  if (!hok) {
    card.dataset.status = 'NONE';
    card.dataset.inForce = 'false';
    $('hok-badge').replaceChildren();
    $('hok-line').textContent = t('hokMissing');
    $('hok-meter').value = 0;
    $('hok-meter-label').textContent = '';
    for (const list of Object.values(lists)) list.replaceChildren();
    return;
  }
  card.dataset.status = hok.status;
  card.dataset.inForce = String(hok.inForce);
  $('hok-badge').replaceChildren(badge(hok.status));
  // Not in force: say where the newest version stands (recommended when, answers due when).
  const newest = hok.versions[hok.versions.length - 1];
  const progress = [
    newest?.recommendedOn ? t('recommendedOn', newest.recommendedOn) : null,
    newest?.responseDue ? t('answersDue', newest.responseDue) : null,
  ].filter(Boolean);
  $('hok-line').textContent = hok.inForce
    ? `${t('hokInForceSince', hok.inForceFrom)} · ${t('colVersion').toLowerCase()} ${hok.version ?? '–'}`
    : [`${t('hokNotInForce')} (${term(hok.status)})`, ...progress].join(' · ');

  const adopted = hok.parties.filter((p) => p.adoptedOn).sort((a, b) => (a.adoptedOn < b.adoptedOn ? -1 : 1));
  const meter = $('hok-meter');
  meter.max = Math.max(1, hok.parties.length);
  meter.value = adopted.length;
  meter.textContent = `${adopted.length}/${hok.parties.length}`;
  $('hok-meter-label').textContent = `${adopted.length}/${hok.parties.length}`;
  const pendingIds = new Set(hok.pendingParties.map((p) => p.id));
  const declined = hok.parties.filter((p) => p.declinedOn && !p.adoptedOn);
  const noticed = hok.parties.filter((p) => p.noticeGivenOn);
  const item = (label, note, testid) => h('li', { 'data-testid': testid }, h('span', {}, label), note ? h('span', { class: 'muted' }, note) : null);

  lists.adopted.replaceChildren(...adopted.map((p) => item(p.party.name, p.adoptedOn, 'hok-adopted-party')));
  lists.pending.replaceChildren(
    ...hok.pendingParties.map((p) => item(p.name, null, 'hok-pending-party')),
    ...declined.filter((p) => !pendingIds.has(p.party.id)).map((p) => item(p.party.name, `${t('declined').toLowerCase()} ${p.declinedOn}`, 'hok-declined-party')),
  );
  lists.notice.replaceChildren(
    ...noticed.map((p) => item(p.party.name, `${p.noticeGivenOn}${p.leavesOn ? ` · ${t('leaves', p.leavesOn)}` : ''}`, 'hok-notice-party')),
  );
  for (const [key, list] of Object.entries(lists)) {
    if (!list.children.length) list.append(h('li', { class: 'muted empty' }, t('none')));
    $(`hok-${key}-count`).textContent = String(list.querySelectorAll('li:not(.empty)').length);
  }
}

// One page of the agreements the filter accepts, in the server's order (in force first, then by
// kind and title), with the filtered counts and the pager.
function renderAgreements() {
  const page = state.page;
  if (!page) return;
  const shown = page.nodes;
  $('agreements-summary').textContent = t('inForceSummary', page.inForceCount, page.totalCount);
  const last = state.pageStart + shown.length - 1;
  $('agreements-range').textContent = t('pageRange', state.pageStart, last, page.totalCount);
  $('agreements-prev').disabled = !page.pageInfo.hasPreviousPage;
  $('agreements-next').disabled = !page.pageInfo.hasNextPage;
  Object.assign($('agreements-table').dataset, { ready: 'true', start: String(state.pageStart), total: String(page.totalCount) });
  $('agreements-body').replaceChildren(
    ...(shown.length ? [] : [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, t('noMatches')))]),
    ...shown.map((a) => {
      const bound = a.parties.filter((p) => p.bound).length;
      return h(
        'tr',
        { 'data-testid': `agreement-${a.id}`, 'data-status': a.status, 'data-in-force': String(a.inForce), class: a.inForce ? 'in-force' : 'not-in-force' },
        h('th', { scope: 'row' }, h('span', { class: 'title' }, a.title), h('span', { class: 'kind' }, term(a.kind))),
        h('td', {}, badge(a.status)),
        h('td', { class: 'num' }, a.version ?? '–'),
        h('td', { class: 'date' }, a.inForceFrom ?? '–'),
        h('td', { class: 'date' }, a.inForceUntil ?? '–'),
        h('td', { class: 'num' }, h('meter', { min: 0, max: Math.max(1, a.parties.length), value: bound, 'aria-hidden': 'true' }), ` ${bound}/${a.parties.length}`),
        h('td', {}, a.steward?.name ?? '–'),
      );
    }),
  );
}

function renderLadder(cases) {
  const open = cases.filter((c) => c.status === 'OPEN');
  $('ladder').replaceChildren(
    ...['LOCAL', 'OFFICIALS', 'POLITICAL'].map((level, i) => {
      const here = open.filter((c) => c.level === level);
      return h(
        'li',
        { class: 'step', 'data-testid': `ladder-step-${level}` },
        h('h3', {}, h('span', { class: 'step-no' }, `${t('step')} ${i + 1}`), ` ${term(`STEP_${level}`)} `, h('span', { class: 'count' }, String(here.length))),
        here.length
          ? h('ul', { class: 'case-list' }, ...here.map((c) => h(
            'li',
            { 'data-testid': 'case', 'data-case': c.id },
            h('strong', {}, c.summary),
            h('span', { class: 'muted' }, [c.agreement?.title ?? '', term(c.kind), c.principled ? t('principled') : null, c.history[0]?.effective].filter(Boolean).join(' · ')),
          )))
          : h('p', { class: 'muted' }, t('noCases')),
      );
    }),
  );
}

function renderDeadlines(deadlines) {
  $('deadlines-range').textContent = t('deadlinesRange', state.at, addMonths(state.at, DEADLINE_MONTHS));
  const soon = addMonths(state.at, 1);
  $('deadlines').replaceChildren(
    ...(deadlines.length
      ? deadlines.map((d) => h(
        'li',
        { class: d.on <= soon ? 'soon' : '', 'data-testid': 'deadline', 'data-kind': d.kind },
        h('time', { datetime: d.on }, d.on),
        h('span', {}, sentence(d.kind, d, name, d.description)),
      ))
      : [h('li', { class: 'muted' }, t('noDeadlines'))]),
  );
}

// What an auditor should look at (issue 15): the findings of the date, grouped by kind, each with
// the name of what it is about; choosing one lists the events behind it.
function renderFindings(findings) {
  $('findings-summary').textContent = t('findingsSummary', findings.length);
  $('finding-detail').replaceChildren();
  const kinds = [...new Set(findings.map((f) => f.kind))];
  $('findings-body').replaceChildren(
    ...(kinds.length
      ? kinds.map((kind) => {
        const items = findings.filter((f) => f.kind === kind);
        return h(
          'details',
          { class: 'finding-group', 'data-testid': 'finding-group', 'data-kind': kind },
          h('summary', {}, `${term(kind)} `, h('span', { class: 'count' }, String(items.length))),
          h('ul', { class: 'names' }, ...items.map((f) => {
            // A listener, not an inline handler: the page's CSP allows no inline script.
            const button = h('button', { type: 'button', class: 'link', 'data-testid': 'finding' }, f.subject);
            button.addEventListener('click', () => showFinding(f));
            return h('li', {}, button, h('span', { class: 'muted small' }, ` · ${t('arose', f.arose)}`));
          })),
        );
      })
      : [h('p', { class: 'muted' }, t('noFindings'))]),
  );
}

let findingSeq = 0;

async function showFinding(finding) {
  const seq = ++findingSeq;
  const box = $('finding-detail');
  box.replaceChildren(h('p', { class: 'detail-title' }, h('strong', {}, finding.subject)), h('p', { class: 'muted' }, t('loading')));
  try {
    const data = await query(
      `query($at: Date!, $known: DateTime, $kind: FindingKind!) {
        findings(at: $at, asKnownAt: $known, kinds: [$kind]) { subject arose description because { ${EVENT_FIELDS} } }
      }`,
      { at: state.at, known: state.known, kind: finding.kind },
    );
    if (seq !== findingSeq) return;
    const same = data.findings.find((f) => f.subject === finding.subject && f.arose === finding.arose);
    const events = same?.because ?? [];
    box.replaceChildren(
      h('p', { class: 'detail-title' }, h('strong', {}, `${term(finding.kind)}: ${finding.subject}`)),
      h('p', {}, finding.description),
      h('p', { class: 'muted small' }, `${t('arose', finding.arose)} · ${t('becauseEvents', events.length)}`),
      h('ol', { class: 'evidence-list' }, ...events.map(eventCard)),
    );
  } catch (error) {
    if (seq !== findingSeq) return;
    box.replaceChildren(h('p', { class: 'error' }, `${t('loadFailed')}: ${error.message}`));
  }
}

// Whenever "as known at" is not now, the page says so above everything else.
function renderHistoryBanner() {
  const banner = $('history-banner');
  banner.hidden = !state.known;
  banner.textContent = state.known ? t('historyBanner', state.known.replace('T', ' ').replace(/\.\d+Z$/, 'Z')) : '';
}

// Whom a member represents: a party's name, or a word such as "kommunerna" with a capital.
function sideName(id) {
  const known = name(id);
  return known === id ? id.charAt(0).toUpperCase() + id.slice(1) : known;
}

const ROLE_ORDER = ['CHAIR', 'VICE_CHAIR', 'MEMBER', 'SECRETARY', 'CONTACT'];
const MAIN_KINDS = ['POLITICAL_STEERING', 'OFFICIALS_STEERING', 'CONSULTATION', 'WORKING', 'SECRETARIAT', 'SUBREGIONAL', 'LOCAL'];

function renderGroup(group, children, depth) {
  const stewards = (state.dashboard?.stewarded.nodes ?? []).filter((a) => a.steward?.id === group.id);
  const members = [...group.members].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) || a.person.name.localeCompare(b.person.name, 'sv'));
  const sides = new Map();
  for (const m of members) {
    const side = m.represents ?? '';
    if (!sides.has(side)) sides.set(side, []);
    sides.get(side).push(m);
  }
  const memberList = members.length
    ? h('div', { class: 'sides' }, ...[...sides].map(([side, list]) => h(
      'div',
      { class: 'side' },
      side ? h('h5', {}, sideName(side)) : null,
      h('ul', { class: 'members' }, ...list.map((m) => h(
        'li',
        {},
        h('span', { class: `role role-${m.role.toLowerCase()}` }, term(m.role)),
        h('span', { class: 'person' }, m.person.name),
        m.person.title ? h('span', { class: 'muted' }, m.person.title) : null,
      ))),
    )))
    : h('p', { class: 'muted small' }, t('noMembers'));
  const kids = children.get(group.id) ?? [];
  const subgroups = MAIN_KINDS.map((kind) => kids.filter((k) => k.kind === kind)).filter((list) => list.length);
  return h(
    'article',
    { class: `group depth-${depth} kind-${group.kind.toLowerCase()}`, 'data-testid': `group-${group.id}` },
    h('header', {},
      h(depth === 0 ? 'h3' : 'h4', {}, group.name),
      h('span', { class: 'chip' }, term(group.kind)),
      h('span', { class: 'muted small' }, `${t('since')} ${group.establishedOn}${group.endsOn ? ` · ${t('endsOn')} ${group.endsOn}` : ''}`)),
    stewards.length
      ? h('div', { class: 'stewards small' }, h('span', { class: 'muted' }, `${t('stewards')}: `), stewards.map((a) => a.title).join(' · '))
      : null,
    group.mandate ? h('details', { class: 'mandate' }, h('summary', {}, t('mandate')), h('p', {}, group.mandate)) : null,
    members.length || depth === 0 ? h('details', { class: 'member-box', open: depth === 0 && members.length ? true : null },
      h('summary', {}, `${t('members')} (${members.length})`), memberList) : null,
    ...subgroups.map((list) => h('div', { class: list.length > 1 ? 'subgroups grid' : 'subgroups' }, ...list.map((g) => renderGroup(g, children, depth + 1)))),
  );
}

function renderOrganisation(groups) {
  const active = groups.filter((g) => g.active);
  const ids = new Set(active.map((g) => g.id));
  const children = new Map();
  const roots = [];
  for (const g of active) {
    const parent = g.parent?.id;
    if (parent && ids.has(parent)) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(g);
    } else {
      roots.push(g);
    }
  }
  const main = roots.filter((g) => MAIN_KINDS.includes(g.kind)).sort((a, b) => MAIN_KINDS.indexOf(a.kind) - MAIN_KINDS.indexOf(b.kind));
  const other = roots.filter((g) => !MAIN_KINDS.includes(g.kind));
  $('org').replaceChildren(
    ...main.map((g) => renderGroup(g, children, 0)),
    other.length
      ? h('div', { class: 'other-groups' }, h('h3', {}, t('otherForums')), h('div', { class: 'subgroups grid' }, ...other.map((g) => renderGroup(g, children, 1))))
      : null,
  );
  if (!active.length) $('org').append(h('p', { class: 'muted' }, t('none')));
}

function renderTimeline() {
  const from = state.timelineFrom;
  // Rows that ended before the period shown would be empty lines.
  const rows = state.timelineRows.filter((r) => r.last >= from || r.spans.some(([, until]) => !until || until >= from));
  // The axis runs a year past the last thing that happened (or the chosen date), not into an
  // empty future.
  const latest = state.timelineRows.reduce((a, r) => (r.last > a ? r.last : a), state.at);
  const to = addMonths(latest > state.at ? latest : state.at, 12);
  drawTimeline($('timeline'), {
    rows,
    from,
    to: to < lastDay ? to : lastDay,
    at: state.at,
    selectedKey: state.selectedKey,
    onSelect: selectItem,
    onPickDate: (iso) => setDate(iso),
  });
}

// ---------------------------------------------------------------------------------------------
// The evidence panel

function eventCard(event) {
  const source = event.source;
  const data = Object.entries(event.data ?? {}).filter(([, v]) => v !== null && typeof v !== 'object');
  return h(
    'li',
    { class: 'evidence', 'data-testid': 'because-event' },
    h('div', { class: 'evidence-head' },
      h('span', { class: 'pos' }, `#${event.position}`),
      h('strong', {}, sentence(event.type, event.data, name, event.type)),
      h('time', { datetime: event.effective }, event.effective)),
    h('div', { class: 'muted small' }, `${event.type} · ${t('recordedAt')} ${formatInstant(event.recordedAt)} ${t('recordedBy')} ${event.recordedBy}`),
    source
      ? h('div', { class: 'source', 'data-testid': 'because-source' },
        h('span', { class: 'label' }, `${t('source')}: `),
        source.url ? h('a', { href: source.url, rel: 'noopener noreferrer', target: '_blank' }, source.title) : h('span', {}, source.title),
        source.reference ? h('div', { class: 'small' }, `${t('reference')}: ${source.reference}`) : null,
        source.note ? h('div', { class: 'small muted' }, `${t('note')}: ${source.note}`) : null)
      : null,
    data.length ? h('details', { class: 'small' }, h('summary', {}, 'data'), h('dl', {}, ...data.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]))) : null,
  );
}

let detailSeq = 0;

async function selectItem(item, row) {
  state.selectedKey = item.key;
  // Mark the item chosen in place (no redraw, so keyboard focus stays where it is) and make it
  // the timeline's tab stop.
  for (const node of document.querySelectorAll('.tl-item')) {
    const on = node.dataset.key === item.key;
    node.classList.toggle('tl-selected', on);
    node.setAttribute('aria-pressed', String(on));
    node.setAttribute('tabindex', on ? '0' : '-1');
  }
  const seq = ++detailSeq;
  const body = $('detail-body');
  body.replaceChildren(h('p', { class: 'detail-title' }, h('strong', {}, item.label)), h('p', { class: 'muted small' }, `${row.title} · ${item.date}`), h('p', { class: 'muted' }, t('loading')));
  try {
    let events;
    if (item.event) {
      const data = await query(`query($id: ID!) { event(id: $id) { ${EVENT_FIELDS} } }`, { id: item.event });
      events = data.event ? [data.event] : [];
    } else {
      const { kind, on, agreement } = item.change;
      // The agreement's own changes of that day: computed from it alone, whatever the ledger's size.
      const data = await query(
        `query($on: Date!, $known: DateTime, $agreement: ID!) {
          agreement(id: $agreement, at: $on, asKnownAt: $known) { changes(from: $on, to: $on) { kind because { ${EVENT_FIELDS} } } }
        }`,
        { on, known: state.known, agreement },
      );
      const change = (data.agreement?.changes ?? []).find((c) => c.kind === kind);
      // The deciding events first, newest first among them: for an entry into force, the adoption
      // that completed it; then the rest (publication, proposal, drafting), newest first.
      const rank = (e) => (DECIDING.has(e.type) ? 0 : 1);
      events = [...(change?.because ?? [])].sort((a, b) => rank(a) - rank(b)
        || (a.effective === b.effective ? b.position - a.position : a.effective < b.effective ? 1 : -1));
    }
    if (seq !== detailSeq) return;
    body.replaceChildren(
      h('p', { class: 'detail-title' }, h('strong', {}, item.label)),
      h('p', { class: 'muted small' }, `${row.title} · ${item.date} · ${t('becauseEvents', events.length)}`),
      h('ol', { class: 'evidence-list' }, ...events.map(eventCard)),
    );
  } catch (error) {
    if (seq !== detailSeq) return;
    body.replaceChildren(h('p', { class: 'error' }, `${t('loadFailed')}: ${error.message}`));
  }
}

// ---------------------------------------------------------------------------------------------
// The live feed

let stopFeed = null;
let refreshTimer = null;

function feedStatus(status) {
  const pill = $('feed-status');
  pill.dataset.state = status;
  pill.textContent = t({ connecting: 'feedConnecting', live: 'feedLive', reconnecting: 'feedReconnecting' }[status]);
}

function startFeed(head) {
  if (stopFeed) return;
  // Replay the last few events so the feed is not empty, then follow the log live. On a
  // reconnect, resume right after the last event shown: no gap, no duplicate.
  state.feedPosition = Math.max(0, head - 8);
  $('feed').replaceChildren(h('li', { class: 'muted empty' }, t('feedEmpty')));
  stopFeed = subscribe(FEED_SUBSCRIPTION, () => ({ from: state.feedPosition + 1 }), {
    onStatus: feedStatus,
    onData: (data) => addFeedEvent(data.events),
  });
}

function addFeedEvent(event) {
  if (!event || event.position <= state.feedPosition) return;
  state.feedPosition = event.position;
  const list = $('feed');
  list.querySelector('.empty')?.remove();
  const fresh = event.position > state.loadedPosition;
  list.prepend(h(
    'li',
    { class: fresh ? 'fresh' : '', 'data-testid': 'feed-item', 'data-position': event.position, 'data-type': event.type },
    h('span', { class: 'pos' }, `#${event.position}`),
    h('span', { class: 'what' }, h('strong', {}, sentence(event.type, event.data, name, event.type)), h('span', { class: 'muted small' }, `${event.type} · ${event.stream}`)),
    h('span', { class: 'when small muted' }, h('time', { datetime: event.effective }, event.effective), h('br'), `${formatInstant(event.recordedAt)} · ${event.recordedBy}`),
  ));
  while (list.children.length > FEED_LIMIT) list.lastElementChild.remove();
  // Something new was recorded: what the page shows as "now" may have changed.
  if (fresh && !state.known) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      loadDashboard();
      loadTimeline();
    }, 300);
  }
}

// ---------------------------------------------------------------------------------------------
// Controls

function setDate(iso, { fromSlider = false } = {}) {
  addressProblems = [];
  if (!/^\d{4}-\d{2}-\d{2}$/.test(iso)) return;
  state.at = iso;
  $('at').value = iso;
  if (!fromSlider) $('at-slider').value = String(dayOf(iso));
  $('at-slider').setAttribute('aria-valuetext', iso);
  writeHash();
  loadDashboard();
  renderTimeline();
}

function localInputValue(instant) {
  const d = new Date(instant);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function setKnown(instant) {
  addressProblems = [];
  state.known = instant;
  $('known-now').checked = !instant;
  $('known').disabled = !instant;
  $('known').value = instant ? localInputValue(instant) : '';
  writeHash();
  loadDashboard();
  loadTimeline();
}

function applyLanguage(lang) {
  setLang(lang);
  localStorage.setItem('samverkan.lang', lang);
  for (const button of document.querySelectorAll('.lang')) button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
  translatePage();
  writeHash();
  renderDashboard();
  if (state.timelineRows.length) loadTimeline();
  if ($('feed-status').dataset.state) feedStatus($('feed-status').dataset.state);
}

function init() {
  readHash();
  translatePage();
  for (const button of document.querySelectorAll('.lang')) button.setAttribute('aria-pressed', String(button.dataset.lang === currentLang()));

  const slider = $('at-slider');
  slider.min = String(dayOf(FIRST_DAY));
  slider.max = String(dayOf(lastDay));
  $('at').value = state.at;
  slider.value = String(dayOf(state.at));
  slider.setAttribute('aria-valuetext', state.at);
  $('timeline-from').value = state.timelineFrom;
  if (state.known) {
    $('known-now').checked = false;
    $('known').disabled = false;
    $('known').value = localInputValue(state.known);
  }

  $('controls').addEventListener('submit', (event) => event.preventDefault());
  // The token for a server that closes its reads (`--reads-require-token`), kept for this tab.
  $('token').value = token();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setToken($('token').value.trim());
    // The feed follows with the new token, and every panel is asked again.
    if (stopFeed) {
      stopFeed();
      stopFeed = null;
    }
    timelineStarted = false;
    loadDashboard();
  });
  // A text field in YYYY-MM-DD (a browser's date field shows its own locale's format): a complete
  // day is taken as it is typed; anything else is named when the field is left.
  $('at').addEventListener('input', () => {
    const value = $('at').value.trim();
    if (!isDay(value)) return;
    if (value !== state.at) setDate(value);
    else setStatus(addressProblems.join(' '), addressProblems.length > 0);
  });
  // (Leaving the field fires `change` again for a day already taken: that is no new date.)
  $('at').addEventListener('change', () => {
    const value = $('at').value.trim();
    if (!isDay(value)) setStatus(t('badDateInput', value), true);
    else if (value !== state.at) setDate(value);
  });
  let slideTimer = null;
  slider.addEventListener('input', () => {
    const iso = isoOf(Number(slider.value));
    $('at').value = iso;
    slider.setAttribute('aria-valuetext', iso);
    clearTimeout(slideTimer);
    slideTimer = setTimeout(() => setDate(iso, { fromSlider: true }), 120);
  });
  $('today').addEventListener('click', () => setDate(today));
  $('known-now').addEventListener('change', () => setKnown($('known-now').checked ? null : new Date().toISOString()));
  const readKnown = (final) => {
    const value = $('known').value.trim();
    const ok = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$/.test(value) && isDay(value.slice(0, 10));
    const instant = ok ? new Date(value.replace(' ', 'T')) : null;
    if (instant && !Number.isNaN(instant.getTime())) {
      if (instant.toISOString() !== state.known) setKnown(instant.toISOString());
    } else if (final) {
      setStatus(t('badInstantInput', value), true);
    }
  };
  $('known').addEventListener('input', () => readKnown(false));
  $('known').addEventListener('change', () => readKnown(true));
  // The table's filter: asked of the server, first page. Typing waits for a pause, so a search is
  // one request, not one per letter.
  $('agreements-filter').addEventListener('submit', (event) => event.preventDefault());
  const refilter = ({ timeline = false } = {}) => {
    loadAgreements();
    if (timeline) loadTimeline();
  };
  $('only-in-force').addEventListener('change', () => {
    state.onlyInForce = $('only-in-force').checked;
    refilter();
  });
  $('agreements-status').addEventListener('change', () => {
    state.status = $('agreements-status').value;
    refilter();
  });
  $('agreements-kind').addEventListener('change', () => {
    state.kind = $('agreements-kind').value;
    refilter({ timeline: true });
  });
  let searchTimer = null;
  $('agreements-search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const text = $('agreements-search').value.trim();
      if (text === state.search) return;
      state.search = text;
      refilter({ timeline: true });
    }, 250);
  });
  $('agreements-next').addEventListener('click', () => {
    const page = state.page;
    if (page?.pageInfo.hasNextPage) loadAgreements({ after: page.pageInfo.endCursor }, state.pageStart + page.nodes.length);
  });
  $('agreements-prev').addEventListener('click', () => {
    const page = state.page;
    if (page?.pageInfo.hasPreviousPage) loadAgreements({ before: page.pageInfo.startCursor }, Math.max(1, state.pageStart - PAGE_SIZE));
  });
  $('timeline-from').addEventListener('change', () => {
    state.timelineFrom = $('timeline-from').value;
    writeHash();
    renderTimeline();
  });
  for (const button of document.querySelectorAll('.lang')) button.addEventListener('click', () => applyLanguage(button.dataset.lang));
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(renderTimeline, 150);
  });

  loadDashboard();
}

init();
