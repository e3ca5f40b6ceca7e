import { h } from './util.js';

// isConnectOutcome reports whether this address is where grantd sent an
// end user's browser after a connect link: a datasource's page with the
// callback's endUserId and result in the query. grantd goes there when
// the app gave the link no returnTo.
export function isConnectOutcome() {
  const q = new URLSearchParams(location.search);
  return /^\/datasources\/[^/]+$/.test(location.pathname) && q.has('endUserId') && q.has('result');
}

// connectedPage tells an end user how connecting went. They are not
// grantd's admin and cannot see the datasource's page, so this page reads
// nothing from the API: it shows fixed words chosen by the query's result
// and, on failure, the OAuth error code if it looks like one. It does not
// repeat the query's free text (error_description, endUserId): anyone can
// make a link to this page, and grantd's origin must not say what they
// wrote.
export function connectedPage(app) {
  const q = new URLSearchParams(location.search);
  const ok = q.get('result') === 'authorized';
  const code = /^[a-z_]{1,64}$/.test(q.get('error') || '') ? q.get('error') : '';
  const why = code === 'access_denied' ? 'You declined access at the provider.'
    : code ? `The provider answered ${code}.` : 'The provider did not grant access.';
  document.title = ok ? 'Connected · grantd' : 'Not connected · grantd';
  app.replaceChildren(h('div', { class: 'card narrow connected', id: 'connect-outcome', 'data-result': ok ? 'authorized' : 'error' },
    h('h1', { text: ok ? 'Your account is connected' : 'Your account is not connected' }),
    h('p', { text: ok ? 'The app can now reach it on your behalf. You can close this window.' : why }),
    ok ? null : h('p', { class: 'muted', text: 'Go back to the app to try again; it can give you a new link.' })));
}
