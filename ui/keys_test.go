package ui_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants/grantstest"
)

// TestUIPrivateKeyJWT: a private_key_jwt datasource is made by pasting a
// PEM into the form; it gets a token from fosite, and from then on the
// pages show the key's fingerprint and the certificate's expiry, never
// the key: the edit form offers to replace it, empty.
func TestUIPrivateKeyJWT(t *testing.T) {
	s := startServer(t)
	key := grantstest.NewKeyPair(t, grantstest.KeyOptions{Type: "ec"})
	s.provider.AddClient(grantstest.Client{ID: "keyed", AuthMethod: "private_key_jwt", SigningAlg: "ES256",
		Keys: map[string]any{"k1": key.Signer.Public()}, Scopes: []string{"api/read"}})
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	fingerprint := datasource.PublicKeyFingerprint(key.Signer.Public())

	run(t, ctx, "new keyed datasource", chromedp.Navigate(s.URL+"/datasources/new"), visible("#datasource-form"),
		waitJS(`document.querySelector('#keys-card').hidden`),
		fill("#f-name", "Entra-ish"), fill("#f-url", s.provider.URL+"/api"),
		fill("#f-auth-accessTokenUrl", s.provider.TokenURL()), fill("#f-auth-clientId", "keyed"), fill("#f-auth-scope", "api/read"),
		setValue("#f-auth-clientAuthentication", "private_key_jwt"),
		visible("#f-auth-privateKey"),
		// Pasted, as a person would: the whole PEM at once.
		setValue("#f-auth-privateKey", key.KeyPEM),
		setValue("#f-auth-clientCertificate", key.CertPEM),
		fill("#f-auth-keyId", "k1"))
	shot(t, ctx, shots, "20-new-private-key-jwt")
	run(t, ctx, "save", click("#save"), visible("#ds-name"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`),
		visible("#key-fingerprint"))
	if got := text(t, ctx, "#key-fingerprint"); got != fingerprint {
		t.Errorf("fingerprint shown %q, want %q", got, fingerprint)
	}
	shot(t, ctx, shots, "21-private-key-jwt-authorized")
	lines := strings.Split(strings.TrimSpace(key.KeyPEM), "\n")
	keyLine, keyTail := lines[1], lines[len(lines)-2]
	assertNotOnPage := func(where string) {
		t.Helper()
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML + [...document.querySelectorAll('textarea,input')].map(e => e.value).join('\n')`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, keyLine) || strings.Contains(html, keyTail) {
			t.Errorf("%s: the private key is on the page", where)
		}
	}
	assertNotOnPage("detail")

	run(t, ctx, "edit", click("#edit"), visible("#datasource-form"), visible("#private-key-set"),
		waitJS(`document.querySelector('#f-auth-privateKey').hidden && document.querySelector('#f-auth-privateKey').value === ''`))
	if st := text(t, ctx, "#private-key-state"); !strings.Contains(st, fingerprint) {
		t.Errorf("edit form says %q, want the fingerprint", st)
	}
	assertNotOnPage("edit")
	shot(t, ctx, shots, "22-edit-private-key-set")
	// Saving the form untouched keeps the key.
	run(t, ctx, "save untouched", click("#save"), visible("#ds-name"), visible("#key-fingerprint"),
		waitJS(`document.querySelector('#authorization [data-status]')?.dataset.status === 'authorized'`))
	if got := text(t, ctx, "#key-fingerprint"); got != fingerprint {
		t.Errorf("after saving untouched: %q", got)
	}
}

// setValue sets a control's value at once, as a paste or a choice in a
// select does, and fires the events a person's change would.
func setValue(sel, value string) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+jsString(sel)+`); e.value = `+jsString(value)+
			`; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)(ctx, tg)
		return chromedp.Void{}, err
	}
}
