import { api, ApiError } from './api.js';
import { h, ago, copyText, confirmDialog } from './util.js';
import { showBanner } from './app.js';

// The API keys page: the keys programs call grantd with, a form that
// makes one, and the new key itself, shown once. The key lives only in
// this page's DOM: leaving or reloading the page loses it (grantd keeps a
// hash).

const keysPath = '/api/v1/api-keys';

// PERMISSIONS are grantd's permissions in its own order, each with what
// it lets a key do.
const PERMISSIONS = [
  ['read', 'GET datasources, their statuses and events.'],
  ['write', 'Create, change and delete datasources; start and end their authorizations.'],
  ['proxy', 'Call datasources through the proxy.'],
  ['token', 'The opt-in token endpoint: have raw access tokens handed out.'],
  ['connect', 'Connect links and end users\' connections.'],
  ['mcp', 'Call datasources as tools over MCP.'],
  ['admin', 'Everything, including API keys.'],
];

export async function apiKeysPage(app) {
  // The datasources are for the picker and to name the ids a key lists;
  // the page works without them.
  const [{ apiKeys }, datasources] = await Promise.all([
    api('GET', keysPath),
    api('GET', '/api/v1/datasources').then((r) => r.datasources).catch(() => []),
  ]);

  const created = createdCard();
  const list = keyList(datasources, {
    onRevoked: (k) => { if (created.shows(k.id)) created.clear(); },
  });
  const form = createForm(datasources, {
    onCreated: (k) => {
      created.show(k);
      list.load().catch(list.fail);
    },
  });

  app.replaceChildren(
    h('div', { class: 'page-head' },
      h('div', {},
        h('h1', { text: 'API keys' }),
        h('p', { class: 'muted', id: 'keys-intro' },
          'Programs call grantd\'s API with a key as ', h('code', { text: 'Authorization: Bearer gk_…' }),
          '. Each key may do only what its permissions say, on its datasources.'))),
    created.node, list.node, form);
  list.show(apiKeys);

  const timer = setInterval(() => {
    // Not under the keyboard or a question about a key: a new table would
    // take the focus away.
    if (!list.node.contains(document.activeElement) && !document.getElementById('confirm').open) list.load().catch(() => {});
  }, 15000);
  return () => { clearInterval(timer); created.clear(); };
}

// createdCard shows a new key once, with a Copy button.
function createdCard() {
  const value = h('input', { id: 'key-value', readonly: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'key-once', onfocus: (e) => e.target.select() });
  const label = h('label', { for: 'key-value', id: 'key-label' });
  const copy = h('button', { type: 'button', id: 'key-copy', text: 'Copy', onclick: (e) => copyText(value.value, e.target) });
  // Done forgets the key; the focus goes on to the list.
  const done = h('button', { type: 'button', id: 'key-done', text: 'Done', onclick: () => { clear(); document.getElementById('keys-title')?.focus(); } });
  const node = h('section', { class: 'card key-created', id: 'key-created', hidden: true, 'aria-labelledby': 'key-created-title' },
    h('h2', { id: 'key-created-title', text: 'Your new API key' }),
    label,
    h('div', { class: 'copy-row' }, value, copy),
    h('p', { class: 'key-once', id: 'key-once' },
      h('strong', { text: 'This is the only time it is shown.' }),
      ' Copy it now and keep it somewhere safe: grantd keeps only a hash, and leaving or reloading this page loses it. A lost key cannot be shown again; revoke it and create another.'),
    h('div', { class: 'actions' }, done));

  function clear() {
    value.value = '';
    node.hidden = true;
    delete node.dataset.id;
  }
  return {
    node,
    clear,
    shows: (id) => !node.hidden && node.dataset.id === id,
    show(k) {
      label.textContent = `Key for ${k.name} (${k.id})`;
      value.value = k.key;
      copy.textContent = 'Copy';
      node.dataset.id = k.id;
      node.hidden = false;
      value.focus();
    },
  };
}

// keyList is the table of keys, or the empty state, or why it could not
// be read.
function keyList(datasources, { onRevoked }) {
  const table = h('table', { class: 'list', id: 'key-table' });
  const empty = h('p', { class: 'card empty muted', id: 'keys-empty', hidden: true,
    text: 'No API keys yet. Create one below for each program that calls grantd, with only the permissions it needs.' });
  const error = h('div', { class: 'banner banner-error', id: 'keys-error', role: 'alert', hidden: true });
  const title = h('h2', { id: 'keys-title', tabindex: '-1', text: 'Keys' });
  const node = h('section', { id: 'keys', 'aria-labelledby': 'keys-title' }, title, error, table, empty);

  async function load() {
    const { apiKeys } = await api('GET', keysPath);
    show(apiKeys);
  }
  function fail(err) {
    if (err.status === 401) return;
    error.replaceChildren(h('strong', { text: 'The API keys could not be read:' }), ' ', err.message, ' ',
      h('button', { type: 'button', class: 'small', id: 'keys-retry', text: 'Try again', onclick: () => load().catch(fail) }));
    error.hidden = false;
  }

  function show(keys) {
    error.hidden = true;
    empty.hidden = keys.length > 0;
    table.hidden = keys.length === 0;
    const cols = ['Name', 'ID', 'Permissions', 'Datasources', 'Created', 'Last used', 'Actions'];
    table.replaceChildren(
      h('thead', {}, h('tr', {}, cols.map((t, i) => h('th', { scope: 'col' }, i === 6 ? h('span', { class: 'sr-only', text: t }) : t)))),
      h('tbody', {}, keys.map((k) => h('tr', { 'data-id': k.id, 'data-name': k.name },
        h('td', { 'data-label': cols[0], class: 'key-name', text: k.name }),
        h('td', { 'data-label': cols[1] }, h('code', { class: 'key-id', text: k.id })),
        h('td', { 'data-label': cols[2], class: 'key-perms' },
          h('span', { class: 'chips' }, k.permissions.map((p) => h('span', { class: 'chip', 'data-permission': p, text: p })))),
        h('td', { 'data-label': cols[3], class: 'key-datasources' }, scope(k.datasources, datasources)),
        // One child per cell: on a phone a cell is a grid of label and value.
        h('td', { 'data-label': cols[4], class: 'key-created-at' }, h('div', {},
          h('time', { datetime: k.createdAt, title: new Date(k.createdAt).toLocaleString(), text: ago(k.createdAt) }),
          h('div', { class: 'muted small', title: k.createdBy, text: 'by ' + actor(k.createdBy) }))),
        h('td', { 'data-label': cols[5], class: 'key-last-used' }, k.lastUsedAt
          ? h('time', { datetime: k.lastUsedAt, title: `${new Date(k.lastUsedAt).toLocaleString()} (recorded to the minute)`, text: ago(k.lastUsedAt) })
          : h('span', { class: 'muted', text: 'never' })),
        h('td', { 'data-label': cols[6], class: 'row-actions' },
          h('button', { type: 'button', class: 'danger small revoke', 'aria-label': `Revoke ${k.name}`, text: 'Revoke', onclick: (e) => revoke(k, e.target) }))))));
  }

  async function revoke(k, btn) {
    if (!(await confirmDialog(`Revoke the API key "${k.name}" (${k.id})? Programs using it are refused from now on. This cannot be undone.`, 'Revoke'))) {
      btn.focus();
      return;
    }
    btn.disabled = true;
    try {
      await api('DELETE', `${keysPath}/${encodeURIComponent(k.id)}`);
      onRevoked(k);
      showBanner('success', `Revoked ${k.name}.`, 'Calls with it are refused.');
    } catch (err) {
      if (err.status !== 404) { // already gone: the list below shows it
        showBanner('error', `Revoking ${k.name} failed:`, err.message);
        btn.disabled = false;
        return;
      }
    }
    await load().catch(fail);
    title.focus();
  }

  return { node, show, load, fail };
}

// scope shows which datasources a key covers: all, or each one listed,
// by name when it exists (a key lists ids and names as it was given them).
function scope(entries, datasources) {
  if (!entries.length) return h('span', { class: 'muted', 'data-all': '', title: 'Every datasource, including ones created later', text: 'all' });
  return h('ul', { class: 'plain' }, entries.map((x) => {
    const d = datasources.find((d) => d.id === x) || datasources.find((d) => d.name.toLowerCase() === x.toLowerCase());
    if (!d) return h('li', { 'data-entry': x }, h('code', { text: x }), h('span', { class: 'muted small', text: ' (no such datasource yet)' }));
    return h('li', { 'data-entry': x }, h('a', { href: `/datasources/${encodeURIComponent(d.id)}`, 'data-link': true, text: d.name }),
      d.id === x ? null : h('span', { class: 'muted small', text: ' (by name)' }));
  }));
}

// actor turns who made a key, as grantd records it, into words.
function actor(by) {
  if (!by) return 'unknown';
  if (by.startsWith('session:')) return 'a UI session';
  if (by.startsWith('token:')) return 'the admin token';
  const m = by.match(/^key:\S+ \((.*)\)$/);
  if (m) return `the key ${m[1]}`;
  return by;
}

// createForm makes a key: its name, permissions and, optionally, the
// datasources it is limited to. Field errors from the API appear next to
// their fields.
function createForm(datasources, { onCreated }) {
  const field = (name, label, control, help) => h('div', { class: 'field', 'data-field': name },
    h('label', { for: `k-${name}`, text: label }), control,
    help ? h('p', { class: 'help', id: `k-${name}-help`, text: help }) : null,
    errorSlot(name));
  const name = h('input', { id: 'k-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off', placeholder: 'e.g. nightly export', 'aria-describedby': 'k-name-help k-error-name' });

  const boxes = PERMISSIONS.map(([p, what]) => {
    const box = h('input', { type: 'checkbox', id: `k-perm-${p}`, name: 'permissions', value: p, 'aria-describedby': `k-perm-${p}-help` });
    return { p, box, node: h('div', { class: 'perm' },
      h('label', { for: `k-perm-${p}` }, box, ' ', h('code', { text: p })),
      h('p', { class: 'help', id: `k-perm-${p}-help`, text: what })) };
  });
  const adminWarning = h('p', { class: 'help warn', id: 'k-admin-warning', hidden: true,
    text: 'An admin key can make other keys, with any datasources: limiting it to datasources does not stop it.' });
  const perms = h('fieldset', { class: 'field perms', id: 'k-permissions', 'data-field': 'permissions', 'aria-describedby': 'k-error-permissions' },
    h('legend', { text: 'Permissions' }),
    h('div', { class: 'perm-grid' }, boxes.map((b) => b.node)),
    adminWarning,
    errorSlot('permissions'));

  // Datasources: picked from the existing ones, or named before they
  // exist. An existing datasource is kept by its id, so renaming it keeps
  // it covered; a name covers the datasource created later under it. (A
  // select and a plain text field, not a datalist: its pop-up takes the
  // next click for itself.)
  const chosen = []; // what is sent: ids of existing datasources, names of others
  const dsSelect = h('select', { id: 'k-ds-select', 'aria-describedby': 'k-ds-summary k-error-datasources' },
    h('option', { value: '', text: datasources.length ? 'Choose a datasource…' : 'No datasources yet' }),
    datasources.map((d) => h('option', { value: d.id, text: d.name })));
  const dsName = h('input', { id: 'k-ds-name', autocomplete: 'off', spellcheck: 'false', maxlength: 100, placeholder: 'Name', 'aria-describedby': 'k-ds-name-help k-error-datasources' });
  const addSelected = h('button', { type: 'button', id: 'k-ds-add', text: 'Add' });
  const addNamed = h('button', { type: 'button', id: 'k-ds-add-name', text: 'Add' });
  const chips = h('ul', { class: 'chips plain', id: 'k-ds-chips', 'aria-label': 'Chosen datasources' });
  const summary = h('p', { class: 'help', id: 'k-ds-summary', 'aria-live': 'polite' });
  const renderChosen = () => {
    chips.replaceChildren(...chosen.map((x, i) => {
      const d = datasources.find((d) => d.id === x);
      const label = d ? d.name : x;
      return h('li', { class: 'chip', 'data-entry': x }, label, d ? null : h('span', { class: 'muted', text: ' (not yet created)' }), ' ',
        h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${label}`, text: '✕', onclick: () => {
          chosen.splice(i, 1);
          renderChosen();
          // The focus stays in the list, or goes back to the picker.
          (chips.querySelectorAll('.chip-remove')[Math.min(i, chosen.length - 1)] || (d ? dsSelect : dsName)).focus();
        } }));
    }));
    for (const o of dsSelect.options) o.disabled = o.value !== '' && chosen.includes(o.value);
    summary.textContent = chosen.length
      ? `The key works on ${chosen.length === 1 ? 'this datasource' : `these ${chosen.length} datasources`} only.`
      : 'None chosen: the key works on every datasource, including ones created later.';
    adminWarning.hidden = !(chosen.length && boxes.find((b) => b.p === 'admin').box.checked);
  };
  const choose = (entry) => {
    if (entry && !chosen.includes(entry)) chosen.push(entry);
    renderChosen();
  };
  addSelected.addEventListener('click', () => {
    choose(dsSelect.value);
    dsSelect.value = '';
  });
  // A typed name of an existing datasource is that datasource.
  const addTyped = () => {
    const typed = dsName.value.trim();
    if (!typed) return;
    const d = datasources.find((d) => d.name.toLowerCase() === typed.toLowerCase() || d.id === typed);
    choose(d ? d.id : typed);
    dsName.value = '';
  };
  addNamed.addEventListener('click', addTyped);
  // Enter in the name field adds it rather than creating the key. The
  // form is submitted on keypress: a browser that sends one even after a
  // cancelled keydown (DevTools' key events do) must not submit.
  dsName.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addTyped(); } });
  dsName.addEventListener('keypress', (e) => { if (e.key === 'Enter') e.preventDefault(); });
  boxes.find((b) => b.p === 'admin').box.addEventListener('change', renderChosen);
  // A permission chosen answers "choose at least one".
  perms.addEventListener('change', () => {
    const slot = perms.querySelector('.field-error');
    if (boxes.some((b) => b.box.checked) && !slot.hidden) {
      slot.hidden = true;
      slot.textContent = '';
      perms.removeAttribute('aria-invalid');
      if (!form.querySelector('.field-error:not([hidden])')) topError.hidden = true;
    }
  });

  const topError = h('div', { class: 'banner banner-error', id: 'k-form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'k-create', text: 'Create API key' });
  const form = h('form', { class: 'card', id: 'apikey-form', novalidate: true, 'aria-labelledby': 'k-form-title' },
    h('h2', { id: 'k-form-title', text: 'Create an API key' }),
    topError,
    field('name', 'Name', name, 'Which program or person uses it; shown in the list and in the audit log.'),
    perms,
    h('div', { class: 'field', 'data-field': 'datasources', role: 'group', 'aria-labelledby': 'k-ds-label' },
      h('span', { class: 'label', id: 'k-ds-label', text: 'Datasources (optional)' }),
      h('div', { class: 'grid2 ds-pick' },
        h('div', {},
          h('label', { class: 'sub', for: 'k-ds-select', text: 'An existing datasource' }),
          h('div', { class: 'copy-row' }, dsSelect, addSelected),
          h('p', { class: 'help', text: 'Kept by id: renaming it keeps it covered.' })),
        h('div', {},
          h('label', { class: 'sub', for: 'k-ds-name', text: 'Or one not yet created' }),
          h('div', { class: 'copy-row' }, dsName, addNamed),
          h('p', { class: 'help', id: 'k-ds-name-help', text: 'Its name: the datasource created later under it is covered.' }))),
      chips, summary,
      errorSlot('datasources')),
    h('div', { class: 'actions' }, submit));
  renderChosen();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    // A datasource picked or named but not added is meant: add it.
    if (dsSelect.value) addSelected.click();
    if (dsName.value.trim()) addTyped();
    const body = {
      name: name.value.trim(),
      permissions: boxes.filter((b) => b.box.checked).map((b) => b.p),
      datasources: [...chosen],
    };
    submit.disabled = true;
    try {
      const k = await api('POST', keysPath, body);
      form.reset();
      chosen.length = 0;
      renderChosen();
      onCreated(k);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showErrors(err);
    } finally {
      submit.disabled = false;
    }
  });

  function clearErrors() {
    topError.hidden = true;
    form.querySelectorAll('.field-error').forEach((p) => { p.hidden = true; p.textContent = ''; });
    form.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
  }

  // showErrors puts each field error next to its field; anything else is
  // said at the top of the form.
  function showErrors(err) {
    const controls = { name, permissions: perms, datasources: dsName };
    const unplaced = [];
    for (const fe of err.problem.errors || []) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(fe.field)}"]`);
      if (!slot) { unplaced.push(`${fe.field}: ${fe.message}`); continue; }
      slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + fe.message;
      slot.hidden = false;
      controls[fe.field]?.setAttribute('aria-invalid', 'true');
    }
    const placed = form.querySelector('.field-error:not([hidden])');
    // A 400 with field errors says "invalid fields" in words meant for
    // datasources; the fields say it better.
    const detail = placed && !unplaced.length ? 'See the fields marked below.' : err.problem.errors?.length ? '' : err.message;
    topError.replaceChildren(h('strong', { text: 'The key was not created.' }), ' ', detail);
    if (unplaced.length) topError.append(h('ul', {}, unplaced.map((u) => h('li', { text: u }))));
    topError.hidden = false;
    const focus = placed ? (placed.dataset.errorFor === 'permissions' ? boxes[0].box : controls[placed.dataset.errorFor]) : null;
    (focus || topError).scrollIntoView({ block: 'center' });
    focus?.focus({ preventScroll: true });
  }

  return form;
}

function errorSlot(name) {
  return h('p', { class: 'field-error', id: `k-error-${name}`, 'data-error-for': name, hidden: true, role: 'alert' });
}
