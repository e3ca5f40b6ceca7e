import { api, ApiError, startAuthorization } from './api.js';
import { h, parseScopes, copyText, isProviderAnswer, confirmDialog, rows as keyValueRows, AUTH_TYPES } from './util.js';
import { navigate, showBanner } from './app.js';

// formPage creates (id null) or edits a datasource. It mirrors Appsmith's
// OAuth 2.0 page — grant type, where the token goes, header prefix, token
// and authorization URLs, client id and secret, comma-separated scopes,
// custom authentication parameters, client authentication — and adds what
// grantd supports beyond it. Field errors from the API appear next to
// their fields. An authorization-code datasource can be saved and
// authorized in one step (Save and authorize), or hold one connection per
// end user (connection mode per user); either may have a health check.
//
// A new datasource starts from the provider catalogue: a searchable list
// of text-only cards; picking one (/datasources/new?provider=NAME) fills
// the form from the entry, and the server fills what the form does not
// show (token-answer mapping, kept fields, scope separator) from the
// provider the body names.
export async function formPage(app, id) {
  const chosen = id ? null : new URLSearchParams(location.search).get('provider');
  const [config, existing, catalogue] = await Promise.all([
    api('GET', '/api/v1/config'),
    id ? api('GET', `/api/v1/datasources/${encodeURIComponent(id)}`) : null,
    id ? null : api('GET', '/api/v1/providers'),
  ]);
  const entry = chosen ? (catalogue.providers || []).find((p) => p.name === chosen) : null;
  // seed holds the values the form starts with: the datasource edited,
  // or the provider's.
  const seed = existing || (entry ? fromEntry(entry) : null);
  const a = seed ? seed.auth : {};
  const el = {}; // inputs by field name

  const input = (name, attrs = {}) => (el[name] = h('input', { id: fid(name), name, ...attrs }));
  const field = (name, label, control, help) => h('div', { class: 'field', 'data-field': name },
    h('label', { for: fid(name), text: label }), control,
    help ? h('p', { class: 'help', text: help }) : null,
    h('p', { class: 'field-error', 'data-error-for': name, hidden: true, role: 'alert' }));
  const check = (name, label, checked, help) => {
    el[name] = h('input', { id: fid(name), name, type: 'checkbox', checked: !!checked });
    return h('div', { class: 'field check', 'data-field': name },
      h('label', { for: fid(name) }, el[name], ' ' + label),
      help ? h('p', { class: 'help', text: help }) : null,
      h('p', { class: 'field-error', 'data-error-for': name, hidden: true, role: 'alert' }));
  };
  const select = (name, options, value) => (el[name] = h('select', { id: fid(name), name },
    options.map(([v, t]) => h('option', { value: v, selected: v === (value ?? ''), text: t }))));
  const radios = (name, options, value, onchange) => h('div', { class: 'radios', role: 'radiogroup', id: fid(name) },
    options.map(([v, t]) => h('label', { class: 'radio' },
      h('input', { type: 'radio', name, value: v, id: fid(name) + '-' + v, checked: v === value, onchange }), ' ' + t)));

  // Datasource.
  input('name', { required: true, maxlength: 100, value: existing?.name ?? entry?.title ?? '', placeholder: 'Vectara' });
  input('url', { required: true, type: 'url', value: seed?.url ?? '', placeholder: 'https://api.vectara.io' });
  el.description = h('textarea', { id: fid('description'), name: 'description', rows: 2, maxlength: 2000, placeholder: 'What this API holds, for people and agents choosing a datasource' });
  el.description.value = existing?.description ?? '';

  // Connections: whose account the tokens are, shared values for the
  // URL's {placeholders}, and an optional health check.
  const modeRadios = radios('connectionMode', [['shared', 'Shared: one account for every call'], ['perUser', 'Per end user: each end user connects their own account']],
    existing?.connectionMode || 'shared', sync);
  modeRadios.setAttribute('aria-labelledby', 'connection-mode-label');
  const modeHelp = h('p', { class: 'help', id: 'connection-mode-help' });
  const configRows = rows('connectionConfig', seed?.connectionConfig, 'subdomain', 'acme', '+ Add value');
  const hc = existing?.healthCheck;
  const hcCheck = check('healthCheck', 'Check that connections work', !!hc, 'Runs after every authorization, on request and every interval; each connection shows the outcome.');
  el.healthCheck.addEventListener('change', sync);
  select('healthCheck.method', ['GET', 'HEAD', 'POST', 'OPTIONS'].map((m) => [m, m]), hc?.method || 'GET');
  input('healthCheck.path', { value: hc?.path ?? '', placeholder: '/me' });
  input('healthCheck.expectStatus', { value: (hc?.expectStatus?.length ? hc.expectStatus : [200]).join(', '), placeholder: '200, 204', inputmode: 'numeric' });
  input('healthCheck.intervalSeconds', { type: 'number', min: 60, step: 1, value: hc?.intervalSeconds || 21600 });

  // Auth type: OAuth 2.0 (the cards below), or a fixed credential.
  const typeRadios = radios('auth.type', AUTH_TYPES, a.type || 'oauth2', sync);
  typeRadios.setAttribute('aria-labelledby', 'auth-type-label');

  // Grant and endpoints.
  const grant = a.grantType || 'client_credentials';
  const grantRadios = radios('auth.grantType', [['client_credentials', 'Client credentials'], ['authorization_code', 'Authorization code'],
    ['jwt_bearer', 'JWT bearer (service account)'], ['token_exchange', 'Token exchange']], grant, sync);
  input('auth.accessTokenUrl', { type: 'url', required: true, value: a.accessTokenUrl ?? '', placeholder: 'https://example.auth.us-west-2.amazoncognito.com/oauth2/token' });
  input('auth.authorizationUrl', { type: 'url', value: a.authorizationUrl ?? '', placeholder: 'https://accounts.example.com/authorize' });
  input('auth.clientId', { required: true, value: a.clientId ?? '', autocomplete: 'off' });

  // Write-only fields (the client secret, private keys, a service-account
  // key file): once saved they are never shown again, only that they are
  // set (with the key's fingerprint) and a way to replace them.
  const writeOnly = [];
  const secretField = (name, control, setText, idBase, types = null) => {
    el[name] = control;
    // types: the auth types that send it (null: every type).
    const w = { name, control, replacing: !existing || !setText, types };
    const setBox = h('div', { class: 'secret-set', id: `${idBase}-set`, hidden: w.replacing },
      h('span', { class: 'pill', id: `${idBase}-state`, text: setText || '' }), ' ',
      h('button', { type: 'button', class: 'link', id: `${idBase}-replace`, text: 'replace', onclick: () => {
        w.replacing = true; setBox.hidden = true; control.hidden = false; if (w.file) w.file.hidden = false; control.focus();
      } }));
    control.hidden = !w.replacing;
    writeOnly.push(w);
    w.node = h('div', {}, setBox, control);
    return w;
  };
  const secretInput = h('input', { id: fid('auth.clientSecret'), name: 'auth.clientSecret', type: 'password', autocomplete: 'new-password', placeholder: 'value, ${env:NAME} or ${file:/path}' });
  const secret = secretField('auth.clientSecret', secretInput,
    a.clientSecretSet ? (a.clientSecretRef ? `set — reference ${a.clientSecretRef}` : 'set') : '', 'secret', ['oauth2']);
  // A key field takes a pasted PEM (or JSON key file), or a file picked
  // from disk, read in the page: nothing leaves the browser but the save.
  const keyField = (name, setText, idBase, placeholder, types = null) => {
    const ta = h('textarea', { id: fid(name), name, rows: 5, spellcheck: 'false', autocomplete: 'off', placeholder });
    const w = secretField(name, ta, setText, idBase, types);
    w.file = h('input', { type: 'file', class: 'key-file', id: `${idBase}-file`, 'aria-label': 'Load from a file', accept: '.pem,.key,.json,.txt',
      hidden: ta.hidden, onchange: async (e) => { const f = e.target.files[0]; if (f) ta.value = await f.text(); } });
    w.node.append(w.file);
    return w;
  };
  const keyState = (set, ref, fingerprint, what) => !set ? '' : ref ? `set — reference ${ref}` : fingerprint ? `${what} set — SHA-256 ${fingerprint}` : `${what} set`;
  const privateKey = keyField('auth.privateKey', keyState(a.privateKeySet, a.privateKeyRef, a.privateKeyFingerprint, 'key'), 'private-key',
    '-----BEGIN PRIVATE KEY-----  (RSA ≥ 2048 bits or EC P-256; or ${env:NAME} / ${file:/path})', ['oauth2']);
  const serviceAccount = keyField('auth.serviceAccountJson',
    keyState(a.serviceAccountJsonSet, a.serviceAccountJsonRef, a.privateKeySet ? '' : a.privateKeyFingerprint, 'key file'), 'service-account',
    '{"type": "service_account", "client_email": …, "private_key": …}', ['oauth2']);
  const upstreamKey = keyField('auth.upstreamPrivateKey', keyState(a.upstreamPrivateKeySet, a.upstreamPrivateKeyRef, a.upstreamPrivateKeyFingerprint, 'key'),
    'upstream-key', '-----BEGIN PRIVATE KEY-----');
  const certArea = (name, value) => {
    el[name] = h('textarea', { id: fid(name), name, rows: 4, spellcheck: 'false', placeholder: '-----BEGIN CERTIFICATE-----' });
    el[name].value = value ?? '';
    return el[name];
  };
  certArea('auth.clientCertificate', a.clientCertificate);
  certArea('auth.upstreamClientCertificate', a.upstreamClientCertificate);
  const expires = (at) => at ? `Expires ${new Date(at).toLocaleString()}.` : '';
  input('auth.keyId', { value: a.keyId ?? '', autocomplete: 'off' });
  input('auth.subject', { value: a.subject ?? '', placeholder: 'user@example.com (default: the client ID)' });
  input('auth.subjectTokenType', { value: a.subjectTokenType ?? '', placeholder: 'urn:ietf:params:oauth:token-type:access_token' });
  input('auth.requestedTokenType', { value: a.requestedTokenType ?? '', placeholder: 'urn:ietf:params:oauth:token-type:access_token' });

  // The credential of the other auth types: write-only like the client
  // secret, entered here for a shared datasource; a per-user one's end
  // users enter their own on grantd's connect page.
  const credential = (name, label, type, setKey) => {
    const ctl = h('input', { id: fid(name), name, type: 'password', autocomplete: 'new-password', placeholder: 'value, ${env:NAME} or ${file:/path}' });
    const ref = a[setKey.replace(/Set$/, 'Ref')];
    const w = secretField(name, ctl, a[setKey] ? (ref ? `set — reference ${ref}` : 'set') : '', fid(name).slice(2), [type]);
    return field(name, label, w.node, 'Write-only: stored sealed, never shown again.');
  };
  input('auth.username', { value: a.username ?? '', autocomplete: 'off' });
  input('auth.region', { value: a.region ?? '', placeholder: 'us-east-1' });
  input('auth.service', { value: a.service ?? '', placeholder: 'execute-api, s3, es' });
  const typeFields = {
    apiKey: [credential('auth.apiKey', 'API key', 'apiKey', 'apiKeySet')],
    basic: [field('auth.username', 'Username', el['auth.username']), credential('auth.password', 'Password', 'basic', 'passwordSet')],
    bearer: [credential('auth.token', 'Token', 'bearer', 'tokenSet')],
    awsSigV4: [
      h('div', { class: 'grid2' }, credential('auth.accessKeyId', 'Access key ID', 'awsSigV4', 'accessKeyIdSet'),
        credential('auth.secretAccessKey', 'Secret access key', 'awsSigV4', 'secretAccessKeySet')),
      credential('auth.sessionToken', 'Session token (temporary credentials only)', 'awsSigV4', 'sessionTokenSet')],
  };
  const awsScope = h('div', { class: 'grid2', id: 'aws-scope' },
    field('auth.region', 'Region', el['auth.region']), field('auth.service', 'Service', el['auth.service'], 'The signing name: execute-api, s3, es, …'));
  const perUserNote = h('p', { class: 'muted', id: 'credential-per-user', text: 'Per end user: each end user enters their own credential on grantd\'s connect page, sealed with their connection and never shown again.' });
  const credentialFields = h('div', { id: 'credential-fields' }, ...Object.entries(typeFields).map(([t, nodes]) => h('div', { 'data-type': t }, ...nodes)));
  const credentialCard = h('section', { class: 'card', id: 'credential-card' }, h('h2', { text: 'Credential' }),
    perUserNote, credentialFields, awsScope);

  // Scopes as chips.
  input('auth.scope', { value: a.scope ?? '', placeholder: 'api/read, api/write' });
  const chips = h('div', { class: 'chips', id: 'scope-chips', 'aria-live': 'polite' });
  const renderChips = () => chips.replaceChildren(...parseScopes(el['auth.scope'].value).map((s) => h('span', { class: 'chip', text: s })));
  el['auth.scope'].addEventListener('input', renderChips);
  renderChips();

  select('auth.clientAuthentication', [['auto', 'Auto-detect (provider metadata, else Basic)'], ['basic', 'Basic header (RFC 6749 §2.3.1)'], ['body', 'In the request body'],
    ['private_key_jwt', 'Private key JWT (signed client assertion)'], ['tls_client_auth', 'Mutual TLS client certificate (RFC 8705)']], a.clientAuthentication || 'auto');
  el['auth.clientAuthentication'].addEventListener('change', sync);

  // Token placement.
  const placement = a.tokenPlacement || 'header';
  const placementRadios = radios('auth.tokenPlacement', [['header', 'Header'], ['query', 'Query parameter']], placement, sync);
  input('auth.headerName', { value: a.headerName ?? 'Authorization' });
  // An omitted prefix means Bearer, "" means none (the raw token, as in
  // X-Api-Key: <token>): the field starts as Bearer, and emptied it is
  // sent as "". An empty field must not look like Bearer, hence the
  // placeholder.
  input('auth.headerPrefix', { value: a.headerPrefix ?? 'Bearer', placeholder: 'no prefix' });
  input('auth.queryParamName', { value: a.queryParamName ?? 'access_token' });

  // Authorization request (authorization code).
  const customParams = rows('auth.customAuthParams', a.customAuthParams, 'prompt', 'consent');
  const tokenParams = rows('auth.tokenParams', a.tokenParams, 'tenant', 'acme');

  input('auth.audience', { value: a.audience ?? '' });
  input('auth.resource', { value: a.resource ?? '', placeholder: 'https://api.example.com/' });
  select('auth.refreshClientAuthentication', [['', 'Same as above'], ['auto', 'Auto-detect'], ['basic', 'Basic header'], ['body', 'In the request body'],
    ['private_key_jwt', 'Private key JWT'], ['tls_client_auth', 'Mutual TLS client certificate']], a.refreshClientAuthentication || '');
  el['auth.tlsCACert'] = h('textarea', { id: fid('auth.tlsCACert'), name: 'auth.tlsCACert', rows: 4, placeholder: '-----BEGIN CERTIFICATE-----' });
  el['auth.tlsCACert'].value = a.tlsCACert ?? '';
  input('auth.expiresInDefault', { type: 'number', min: 0, step: 1, value: a.expiresInDefault ?? 3600 });

  const redirect = h('div', { class: 'redirect', id: 'redirect-box' },
    h('span', { class: 'muted', text: 'Redirect URI to register with the provider: ' }),
    h('code', { id: 'redirect-uri', text: config.redirectUri }), ' ',
    h('button', { type: 'button', class: 'small', id: 'copy-redirect', text: 'Copy', onclick: (e) => copyText(config.redirectUri, e.target) }));

  const acOnly = [];
  const ac = (node) => { acOnly.push(node); return node; };
  const headerFields = h('div', { class: 'grid2' },
    field('auth.headerName', 'Header name', el['auth.headerName']),
    field('auth.headerPrefix', 'Header prefix', el['auth.headerPrefix'], 'Sent before the token, e.g. Bearer. Leave empty to send the raw token with no prefix.'));
  const queryFields = field('auth.queryParamName', 'Query parameter name', el['auth.queryParamName']);
  const topErrors = h('div', { class: 'banner banner-error', id: 'form-errors', hidden: true, role: 'alert' });
  const hcFields = h('div', { id: 'health-check-fields' },
    h('div', { class: 'grid2' },
      field('healthCheck.method', 'Method', el['healthCheck.method']),
      field('healthCheck.path', 'Path', el['healthCheck.path'], 'Relative to the URL, as through the proxy.')),
    h('div', { class: 'grid2' },
      field('healthCheck.expectStatus', 'Healthy statuses', el['healthCheck.expectStatus'], 'HTTP statuses that mean it works, comma-separated.'),
      field('healthCheck.intervalSeconds', 'Every (seconds)', el['healthCheck.intervalSeconds'], 'At least 60; 21600 is six hours.')));
  const saveAuthorize = h('button', { type: 'submit', id: 'save-authorize', text: 'Save and authorize' });

  // Key material: jwt_bearer, private_key_jwt and tls_client_auth.
  const jwtOnly = [];
  const jwt = (node) => { jwtOnly.push(node); return node; };
  const keysCard = h('section', { class: 'card', id: 'keys-card' }, h('h2', { text: 'Private key and certificate' }),
    jwt(field('auth.serviceAccountJson', 'Google service-account key file (JSON)', serviceAccount.node,
      'Paste the file as downloaded, or pick it: it fills the client ID, key ID and token URL. Write-only: after saving only the key\'s fingerprint is shown.')),
    field('auth.privateKey', 'Private key (PEM)', privateKey.node,
      'Signs JWT-bearer assertions and private_key_jwt client assertions; with a certificate, the key for mutual TLS. Write-only: after saving only its SHA-256 fingerprint is shown.'),
    field('auth.clientCertificate', 'Client certificate (PEM)', el['auth.clientCertificate'],
      (expires(a.clientCertificateExpiresAt) + ' For tls_client_auth, and named (x5t#S256, x5t) in private_key_jwt assertions as Microsoft Entra wants.').trim()),
    h('div', { class: 'grid2' },
      field('auth.keyId', 'Key ID (kid)', el['auth.keyId']),
      jwt(field('auth.subject', 'Subject (sub)', el['auth.subject'], 'The user to act as (Google domain-wide delegation).'))));
  const exchangeCard = h('section', { class: 'card', id: 'exchange-card' }, h('h2', { text: 'Token exchange (RFC 8693)' }),
    h('p', { class: 'muted', text: 'Each caller sends its own token in the Grantd-Subject-Token header; grantd exchanges it and keeps the result in memory only.' }),
    h('div', { class: 'grid2' },
      field('auth.subjectTokenType', 'Subject token type', el['auth.subjectTokenType']),
      field('auth.requestedTokenType', 'Requested token type', el['auth.requestedTokenType'])));

  const oauthCard = h('section', { class: 'card', id: 'oauth-card' }, h('h2', { text: 'OAuth 2.0' }),
      h('div', { class: 'field', 'data-field': 'auth.grantType' }, h('span', { class: 'label', text: 'Grant type' }), grantRadios,
        h('p', { class: 'field-error', 'data-error-for': 'auth.grantType', hidden: true })),
      field('auth.accessTokenUrl', 'Access token URL', el['auth.accessTokenUrl']),
      ac(field('auth.authorizationUrl', 'Authorization URL', el['auth.authorizationUrl'], 'Where people are sent to authorize.')),
      h('div', { class: 'grid2' },
        field('auth.clientId', 'Client ID', el['auth.clientId']),
        field('auth.clientSecret', 'Client secret', secret.node, 'Write-only: stored sealed, never shown again.')),
      field('auth.scope', 'Scope(s)', h('div', {}, el['auth.scope'], chips), 'Comma-separated; sent space-delimited.'),
      field('auth.clientAuthentication', 'Client authentication', el['auth.clientAuthentication']),
      ac(redirect));
  const placementCard = h('section', { class: 'card', id: 'placement-card' }, h('h2', { id: 'placement-title', text: 'Add access token to' }),
      h('div', { class: 'field', 'data-field': 'auth.tokenPlacement' }, placementRadios,
        h('p', { class: 'field-error', 'data-error-for': 'auth.tokenPlacement', hidden: true })),
      headerFields, queryFields);
  const oauthAdvanced = h('div', { id: 'oauth-advanced' },
      h('div', { class: 'grid2' },
        field('auth.audience', 'Audience', el['auth.audience']),
        field('auth.resource', 'Resource (RFC 8707)', el['auth.resource'])),
      field('auth.tokenParams', 'Token request parameters', tokenParams.node, 'Extra form fields on every token request.'),
      check('auth.sendScopeOnRefresh', 'Send the scope on refresh', a.sendScopeOnRefresh),
      field('auth.refreshClientAuthentication', 'Client authentication on refresh', el['auth.refreshClientAuthentication']),
      field('auth.expiresInDefault', 'Token lifetime when the provider does not say (seconds)', el['auth.expiresInDefault']));
  const exposeField = check('auth.exposeToken', 'Let the token endpoint hand out the raw token (access token, bearer token or API key)', a.exposeToken);
  const form = h('form', { id: 'datasource-form', class: 'stack', novalidate: true },
    h('div', { class: 'page-head' }, h('h1', { text: existing ? `Edit ${existing.name}` : entry ? `New ${entry.title} datasource` : 'New datasource' })),
    existing ? null : providerPicker(catalogue.providers || [], entry),
    topErrors,
    h('section', { class: 'card' }, h('h2', { text: 'Datasource' }),
      field('name', 'Name', el.name),
      field('url', 'URL', el.url, 'The API grantd proxies to; calls go to /api/v1/datasources/{id}/proxy/… with the token attached.'),
      field('description', 'Description', el.description, 'Optional.'),
      h('div', { class: 'field', 'data-field': 'auth.type', id: 'auth-type-field' }, h('span', { class: 'label', id: 'auth-type-label', text: 'Authentication' }), typeRadios,
        h('p', { class: 'field-error', 'data-error-for': 'auth.type', hidden: true, role: 'alert' }))),
    oauthCard,
    credentialCard,
    keysCard,
    exchangeCard,
    h('section', { class: 'card', id: 'connections-settings' }, h('h2', { text: 'Connections' }),
      h('div', { class: 'field', 'data-field': 'connectionMode' }, h('span', { class: 'label', id: 'connection-mode-label', text: 'Whose account' }), modeRadios, modeHelp,
        h('p', { class: 'field-error', 'data-error-for': 'connectionMode', hidden: true, role: 'alert' })),
      field('connectionConfig', 'Connection config', configRows.node, 'Values for {placeholders} in the URL, e.g. {subdomain}; an end user\'s connection may set its own.'),
      hcCheck, hcFields),
    placementCard,
    ac(h('section', { class: 'card' }, h('h2', { text: 'Authorization request' }),
      field('auth.customAuthParams', 'Custom authentication parameters', customParams.node, 'Added to the authorize redirect, e.g. access_type=offline, prompt=consent.'),
      check('auth.pkce', 'PKCE (S256)', a.pkce !== false, 'Recommended; required for clients without a secret.'))),
    h('details', { class: 'card', open: !!(a.audience || a.resource || a.tlsCACert || a.upstreamClientCertificate || a.exposeToken || a.sendScopeOnRefresh || (a.tokenParams && Object.keys(a.tokenParams).length)) },
      h('summary', { text: 'Advanced' }),
      oauthAdvanced,
      field('auth.tlsCACert', 'Trust this CA (PEM)', el['auth.tlsCACert'], 'For providers and APIs on a private CA.'),
      field('auth.upstreamClientCertificate', 'Client certificate for the API itself (mutual TLS, PEM)', el['auth.upstreamClientCertificate'], expires(a.upstreamClientCertificateExpiresAt)),
      field('auth.upstreamPrivateKey', 'Its private key (PEM)', upstreamKey.node, 'Write-only: stored sealed; after saving only its fingerprint is shown.'),
      exposeField),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'save', text: existing ? 'Save' : 'Create datasource' }),
      ac(saveAuthorize),
      h('a', { href: existing ? `/datasources/${encodeURIComponent(existing.id)}` : '/', 'data-link': true, class: 'button', text: 'Cancel' })));

  function sync() {
    const t = form.querySelector('input[name="auth.type"]:checked').value;
    const oauth = t === 'oauth2';
    // A fixed credential has no grant: the grant is read as if none of
    // the OAuth-only parts applied.
    const g = oauth ? form.querySelector('input[name="auth.grantType"]:checked').value : '';
    oauthCard.hidden = !oauth;
    oauthAdvanced.hidden = !oauth;
    // A bearer token or an API key may be handed out like an access token.
    exposeField.hidden = !(oauth || t === 'apiKey' || t === 'bearer');
    placementCard.hidden = !(oauth || t === 'apiKey');
    form.querySelector('#placement-title').textContent = t === 'apiKey' ? 'Add the API key to' : 'Add access token to';
    credentialCard.hidden = oauth || t === 'none';
    credentialFields.querySelectorAll('[data-type]').forEach((n) => { n.hidden = n.dataset.type !== t; });
    awsScope.hidden = t !== 'awsSigV4';
    acOnly.forEach((n) => { n.hidden = g !== 'authorization_code'; });
    const ca = el['auth.clientAuthentication'].value;
    keysCard.hidden = !oauth || !(g === 'jwt_bearer' || ca === 'private_key_jwt' || ca === 'tls_client_auth' || a.privateKeySet || a.serviceAccountJsonSet);
    jwtOnly.forEach((n) => { n.hidden = g !== 'jwt_bearer'; });
    exchangeCard.hidden = g !== 'token_exchange';
    const p = form.querySelector('input[name="auth.tokenPlacement"]:checked').value;
    headerFields.hidden = p !== 'header';
    queryFields.hidden = p !== 'query';
    // Client credentials act for the client itself: never per user (the
    // API refuses it too).
    const perUserRadio = form.querySelector('#f-connectionMode-perUser');
    perUserRadio.disabled = g === 'client_credentials' || t === 'none';
    if (perUserRadio.disabled && perUserRadio.checked) form.querySelector('#f-connectionMode-shared').checked = true;
    const m = form.querySelector('input[name="connectionMode"]:checked').value;
    const perUserHow = {
      authorization_code: 'Each end user connects through a connect link; calls name the end user in the Grantd-End-User header.',
      jwt_bearer: 'grantd signs for each end user (sub = the Grantd-End-User header, or their connection config\'s subject); no browser needed.',
      token_exchange: 'Each call brings the end user\'s own token in Grantd-Subject-Token and names them in Grantd-End-User.',
    };
    modeHelp.textContent = !oauth
      ? (t === 'none' ? 'Nothing is sent, so there is nothing to connect per end user.'
        : m === 'perUser' ? 'Each end user enters their own credential through a connect link; calls name the end user in the Grantd-End-User header.'
          : 'Every call uses the credential configured here.')
      : g === 'client_credentials'
      ? 'Client credentials act for the client itself, so the account is always shared. Per end user needs the authorization code, JWT bearer or token exchange grant.'
      : m === 'perUser'
        ? perUserHow[g]
        : g === 'authorization_code' ? 'One person authorizes once; every call uses that account.' : 'Every call uses the one account configured here.';
    // A per-user datasource is authorized by its end users, one by one.
    if (m === 'perUser') saveAuthorize.hidden = true;
    perUserNote.hidden = m !== 'perUser';
    credentialFields.hidden = m === 'perUser';
    hcFields.hidden = !el.healthCheck.checked;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form, topErrors);
    const t = form.querySelector('input[name="auth.type"]:checked').value;
    const g = t === 'oauth2' ? form.querySelector('input[name="auth.grantType"]:checked').value : '';
    const mode = form.querySelector('input[name="connectionMode"]:checked').value;
    // Enter in a field submits with the first button, plain Save.
    const thenAuthorize = e.submitter?.id === 'save-authorize' && g === 'authorization_code' && mode === 'shared';
    let healthCheck = null;
    if (el.healthCheck.checked) {
      const statuses = el['healthCheck.expectStatus'].value.split(/[\s,]+/).filter(Boolean);
      if (statuses.some((t) => !/^\d{3}$/.test(t))) {
        showErrors(form, topErrors, new ApiError(400, { title: 'The datasource was not saved.', errors: [{ field: 'healthCheck.expectStatus', message: 'must be HTTP statuses such as 200, 204' }] }));
        return;
      }
      healthCheck = {
        method: el['healthCheck.method'].value,
        path: el['healthCheck.path'].value.trim(),
        expectStatus: statuses.map(Number),
        intervalSeconds: Number(el['healthCheck.intervalSeconds'].value || 0),
      };
    }
    const auth = t !== 'oauth2' ? staticAuth(t) : {
      type: t,
      grantType: g,
      accessTokenUrl: el['auth.accessTokenUrl'].value.trim(),
      authorizationUrl: g === 'authorization_code' ? el['auth.authorizationUrl'].value.trim() : '',
      clientId: el['auth.clientId'].value.trim(),
      scope: el['auth.scope'].value.trim(),
      clientAuthentication: el['auth.clientAuthentication'].value,
      tokenPlacement: form.querySelector('input[name="auth.tokenPlacement"]:checked').value,
      headerName: el['auth.headerName'].value.trim(),
      headerPrefix: el['auth.headerPrefix'].value.trim(), // "" is kept: no prefix
      queryParamName: el['auth.queryParamName'].value.trim(),
      audience: el['auth.audience'].value.trim(),
      resource: el['auth.resource'].value.trim(),
      customAuthParams: g === 'authorization_code' ? customParams.value() : {},
      tokenParams: tokenParams.value(),
      pkce: el['auth.pkce'].checked,
      sendScopeOnRefresh: el['auth.sendScopeOnRefresh'].checked,
      refreshClientAuthentication: el['auth.refreshClientAuthentication'].value,
      tlsCACert: el['auth.tlsCACert'].value.trim(),
      expiresInDefault: Number(el['auth.expiresInDefault'].value || 0),
      exposeToken: el['auth.exposeToken'].checked,
      clientCertificate: el['auth.clientCertificate'].value.trim(),
      keyId: el['auth.keyId'].value.trim(),
      subject: g === 'jwt_bearer' ? el['auth.subject'].value.trim() : '',
      subjectTokenType: g === 'token_exchange' ? el['auth.subjectTokenType'].value.trim() : '',
      requestedTokenType: g === 'token_exchange' ? el['auth.requestedTokenType'].value.trim() : '',
      upstreamClientCertificate: el['auth.upstreamClientCertificate'].value.trim(),
      // Not on the form: carried as they are (from the datasource, or
      // from the provider by the server).
      scopeSeparator: a.scopeSeparator, scopeParam: a.scopeParam, tokenResponse: a.tokenResponse, refreshOnStatus: a.refreshOnStatus,
    };
    // Write-only fields go only when typed or pasted anew: omitted, the
    // stored ones are kept. A per-user datasource's credential is its end
    // users'.
    for (const w of writeOnly) {
      if (w.types && (!w.types.includes(t) || (t !== 'oauth2' && mode === 'perUser'))) continue;
      if (w.replacing && w.control.value.trim() !== '') auth[w.name.slice('auth.'.length)] = w.control.type === 'password' ? w.control.value : w.control.value.trim();
    }
    const body = {
      name: el.name.value.trim(), url: el.url.value.trim(), description: el.description.value.trim(),
      connectionMode: mode, connectionConfig: configRows.value(), healthCheck, auth,
      provider: seed?.provider || undefined,
    };
    // A change of mode ends what the datasource holds: the shared token,
    // or every end user's connection.
    if (existing && (existing.connectionMode || 'shared') !== mode) {
      const ends = mode === 'shared' ? 'Every end user\'s connection is deleted.' : 'Its shared token is erased.';
      if (!(await confirmDialog(`Change ${existing.name} to ${mode === 'perUser' ? 'per end user' : 'shared'}? ${ends}`, 'Change'))) return;
    }
    const buttons = form.querySelectorAll('button[type="submit"]');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const d = existing
        ? await api('PUT', `/api/v1/datasources/${encodeURIComponent(existing.id)}`, body)
        : await api('POST', '/api/v1/datasources', body);
      for (const w of writeOnly) w.control.value = '';
      if (thenAuthorize) {
        // Saved: on to the provider, which sends the browser back to the
        // datasource's page with the outcome.
        try {
          await startAuthorization(d.id);
        } catch (err) {
          navigate(`/datasources/${encodeURIComponent(d.id)}`, { keepBanner: true });
          showBanner('error', 'Saved, but authorizing could not start:', err.message);
        }
        return;
      }
      navigate(`/datasources/${encodeURIComponent(d.id)}`, { keepBanner: true });
      showSaved(existing ? 'Saved' : 'Datasource created', d.authorization);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      showErrors(form, topErrors, err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // staticAuth is the auth object of a type other than OAuth 2.0: its own
  // fields, and those every type has.
  function staticAuth(t) {
    const out = {
      type: t,
      tlsCACert: el['auth.tlsCACert'].value.trim(),
      upstreamClientCertificate: el['auth.upstreamClientCertificate'].value.trim(),
    };
    if (t === 'apiKey') {
      Object.assign(out, {
        tokenPlacement: form.querySelector('input[name="auth.tokenPlacement"]:checked').value,
        headerName: el['auth.headerName'].value.trim(),
        headerPrefix: el['auth.headerPrefix'].value.trim(),
        queryParamName: el['auth.queryParamName'].value.trim(),
      });
    }
    if (t === 'apiKey' || t === 'bearer') out.exposeToken = el['auth.exposeToken'].checked;
    const perUserMode = form.querySelector('input[name="connectionMode"]:checked').value === 'perUser';
    if (t === 'basic' && !perUserMode) out.username = el['auth.username'].value.trim();
    if (t === 'awsSigV4') Object.assign(out, { region: el['auth.region'].value.trim(), service: el['auth.service'].value.trim() });
    return out;
  }

  app.replaceChildren(form);
  sync();
  el.name.focus();
}

// showSaved says how a save went. A datasource without a usable token is
// an error even though it was saved, and the cause is quoted as the
// provider's only when the provider really said it (isProviderAnswer).
function showSaved(what, a) {
  if (a.status !== 'error' && a.status !== 'needs_reauthorization') {
    showBanner('success', `${what}.`);
    return;
  }
  const title = a.status === 'error' ? `${what}, but grantd has no usable token:` : `${what}, but it must be authorized again:`;
  const cause = !a.lastError ? '' : isProviderAnswer(a.lastError) ? `The provider said: ${a.lastError}` : a.lastError;
  showBanner('error', title, cause);
}

function fid(name) { return 'f-' + name.replace(/\./g, '-'); }

function rows(name, initial, keyHint, valueHint, addText) {
  return keyValueRows({ id: fid(name), name, initial, keyHint, valueHint, addText });
}

function clearErrors(form, top) {
  top.hidden = true;
  form.querySelectorAll('.field-error').forEach((p) => { p.hidden = true; p.textContent = ''; });
  form.querySelectorAll('[aria-invalid]').forEach((i) => i.removeAttribute('aria-invalid'));
}

// showErrors puts each API field error next to its field (or the nearest
// enclosing one: auth.customAuthParams.state goes to the parameters list),
// and lists the rest at the top.
function showErrors(form, top, err) {
  const unplaced = [];
  for (const e of err.problem.errors || []) {
    let name = e.field, slot = null;
    while (name && !(slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`))) {
      name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '';
    }
    if (!slot) { unplaced.push(`${e.field}: ${e.message}`); continue; }
    const suffix = name !== e.field ? ` (${e.field.slice(name.length + 1)})` : '';
    slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + e.message + suffix;
    slot.hidden = false;
    const control = form.querySelector(`#${CSS.escape(fid(name))}`);
    if (control) control.setAttribute('aria-invalid', 'true');
    const details = slot.closest('details');
    if (details) details.open = true;
  }
  top.replaceChildren(h('strong', { text: err.problem.title || 'The datasource was not saved.' }), ' ', err.problem.detail || '');
  if (unplaced.length) top.append(h('ul', {}, unplaced.map((u) => h('li', { text: u }))));
  top.hidden = false;
  const first = form.querySelector('.field-error:not([hidden])');
  (first || top).scrollIntoView({ block: 'center' });
}

// fromEntry is a catalogue entry as the form's starting values. The
// entry's connectionConfig values are left for the owner (rows with the
// names and empty values).
function fromEntry(e) {
  const cc = {};
  for (const f of e.connectionConfig || []) cc[f.name] = '';
  return {
    provider: e.name,
    url: e.url || '',
    connectionConfig: cc,
    auth: {
      // An API-key or bearer entry starts the form on that type.
      type: e.authType || 'oauth2',
      grantType: (e.grantTypes || [])[0],
      accessTokenUrl: e.accessTokenUrl,
      authorizationUrl: e.authorizationUrl || '',
      scope: (e.defaultScopes || []).join(', '),
      clientAuthentication: e.clientAuthentication,
      customAuthParams: e.customAuthParams,
      tokenParams: e.tokenParams,
      pkce: e.pkce === 'unsupported' ? false : undefined,
      tokenPlacement: e.tokenPlacement,
      headerName: e.headerName,
      headerPrefix: e.headerPrefix,
      expiresInDefault: e.expiresInDefault,
    },
  };
}

// providerPicker is the searchable catalogue above a new datasource's
// form: text-only cards (no logos to fetch), each a link that starts the
// form from that provider, and one for a datasource configured by hand.
function providerPicker(providers, entry) {
  const cards = providers.map((p) => {
    const words = [p.name, p.title, p.description, ...(p.aliases || [])].join(' ').toLowerCase();
    const needs = (p.connectionConfig || []).map((f) => f.name);
    const card = h('a', { class: 'provider-card' + (entry && entry.name === p.name ? ' chosen' : ''), href: `/datasources/new?provider=${encodeURIComponent(p.name)}`,
      'data-link': true, 'data-provider': p.name },
      h('strong', { text: p.title }),
      h('span', { class: 'muted', text: p.description }),
      h('span', { class: 'provider-meta', text: (p.authType ? authTypeName(p.authType) : (p.grantTypes || []).join(', ')) + (needs.length ? ` · needs ${needs.join(', ')}` : '') }));
    card.dataset.words = words;
    return card;
  });
  const custom = h('a', { class: 'provider-card' + (entry ? '' : ' chosen'), href: '/datasources/new', 'data-link': true, 'data-provider': '' },
    h('strong', { text: 'Any OAuth 2.0 API' }), h('span', { class: 'muted', text: 'Configure every field yourself.' }));
  const empty = h('p', { class: 'muted', id: 'provider-none', text: 'No provider matches; configure it yourself below.', hidden: true });
  const search = h('input', { id: 'provider-search', type: 'search', placeholder: 'Search providers: Salesforce, Slack, Zendesk…', 'aria-label': 'Search providers',
    oninput: () => {
      const q = search.value.trim().toLowerCase();
      let shown = 0;
      for (const c of cards) { c.hidden = q !== '' && !c.dataset.words.includes(q); if (!c.hidden) shown++; }
      empty.hidden = shown > 0;
    } });
  const about = entry ? h('p', { id: 'provider-chosen' }, `Filled from ${entry.title}'s published documentation: `,
    h('a', { href: entry.docs, target: '_blank', rel: 'noopener noreferrer', text: entry.docs }),
    '. Fields you change win; the rest of the provider\'s settings (token-answer mapping, kept fields, scope separator) are filled when saved.') : null;
  const notes = entry && entry.notes?.length ? h('details', { id: 'provider-notes' }, h('summary', { text: `${entry.title} quirks` }),
    h('ul', {}, entry.notes.map((n) => h('li', { text: n })))) : null;
  // The chosen card first, so it shows without scrolling.
  const chosenCard = cards.find((c) => entry && c.dataset.provider === entry.name);
  if (chosenCard) cards.splice(cards.indexOf(chosenCard), 1), cards.unshift(chosenCard);
  return h('section', { class: 'card', id: 'provider-picker' }, h('h2', { text: 'Provider' }), search,
    h('div', { class: 'provider-cards', id: 'provider-cards' }, custom, cards), empty, about, notes);
}

// authTypeName is an auth type as the type select names it ("API key").
function authTypeName(t) {
  const found = AUTH_TYPES.find(([v]) => v === t);
  return found ? found[1] : t;
}
