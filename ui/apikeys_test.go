package ui_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// allowClipboard lets the page at s write to and read the clipboard, so
// a test can read back what a Copy button copied.
func allowClipboard(s *server) step {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: s.URL})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// withKey makes one request to grantd as a program would, with key as
// Bearer, and returns the status and body.
func (s *server) withKey(t *testing.T, key, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestUIAPIKeys: an admin makes an API key for one datasource with read
// and proxy in the UI, copies it, and a program uses it: it sees and
// proxies that datasource only, and may not write. The key is shown once:
// after a reload the page has it no more, and the list shows it used. The
// admin revokes it, and it is refused. A key without permissions is
// refused with the error next to the permissions.
func TestUIAPIKeys(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	vectara := s.create(t, s.ccBody("Vectara", s.provider.TokenURL(), "svc-secret"))
	other := s.create(t, s.ccBody("Billing", s.provider.TokenURL(), "svc-secret"))
	signIn(t, ctx, s)
	run(t, ctx, "clipboard", allowClipboard(s))

	// From the top navigation to the page: no keys yet.
	run(t, ctx, "open", click("#nav-api-keys"), visible("#apikey-form"), visible("#keys-empty"))
	if loc := location(t, ctx); loc != s.URL+"/api-keys" {
		t.Errorf("the page is at %s", loc)
	}
	for _, p := range []string{"read", "write", "proxy", "token", "connect", "mcp", "admin"} {
		if help := content(t, ctx, "#k-perm-"+p+"-help"); strings.TrimSpace(help) == "" {
			t.Errorf("permission %s has no explanation", p)
		}
	}
	shot(t, ctx, shots, "30-api-keys-empty")

	// No permission chosen: grantd's 400 names the permissions, and the
	// page says so next to them.
	run(t, ctx, "no permissions", retype("#k-name", "nothing allowed"), click("#k-create"),
		visible(`[data-error-for="permissions"]`))
	if msg := text(t, ctx, `[data-error-for="permissions"]`); !strings.Contains(msg, "at least one") {
		t.Errorf("permissions error %q", msg)
	}
	if inv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#k-permissions').getAttribute('aria-invalid') || ''`)); err != nil || inv != "true" {
		t.Errorf("the permissions are not marked aria-invalid (%q, %v)", inv, err)
	}
	if exists(t, ctx, `[data-error-for="name"]:not([hidden])`) {
		t.Error("an error next to a good name")
	}
	shot(t, ctx, shots, "31-api-key-no-permission")

	// A key for Vectara only, with read and proxy. The name of a
	// datasource not yet created is added with Enter, and taken out again.
	run(t, ctx, "fill", retype("#k-name", "reporting job"), click("#k-perm-read"), click("#k-perm-proxy"),
		choose("#k-ds-select", vectara), click("#k-ds-add"),
		waitJS(`document.querySelector('#k-ds-chips [data-entry="`+vectara+`"]') !== null`),
		keys("#k-ds-name", "Not yet made\r"),
		waitJS(`document.querySelectorAll('#k-ds-chips li').length === 2`),
		waitJS(`document.querySelector('#apikey-form [data-error-for="permissions"]').hidden`))
	shot(t, ctx, shots, "32-api-key-form")
	run(t, ctx, "remove one", click(`#k-ds-chips [data-entry="Not yet made"] button`),
		waitJS(`document.querySelectorAll('#k-ds-chips li').length === 1`))
	run(t, ctx, "create", click("#k-create"), visible("#key-created"),
		waitJS(`document.querySelector('#key-table tr[data-name="reporting job"]') !== null`))
	key, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#key-value")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "gk_") {
		t.Fatalf("the page shows the key %q", key)
	}
	if note := text(t, ctx, "#key-once"); !strings.Contains(note, "only time it is shown") {
		t.Errorf("the key comes with %q", note)
	}
	run(t, ctx, "copy", click("#key-copy"), waitJS(`document.querySelector('#key-copy').textContent === 'Copied'`))
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read the clipboard: %v", err)
	}
	if copied != key {
		t.Fatalf("copied %q, the page shows %q", copied, key)
	}
	row := `#key-table tr[data-name="reporting job"]`
	if got := text(t, ctx, row+" .key-perms"); strings.Join(strings.Fields(got), " ") != "read proxy" {
		t.Errorf("permissions listed as %q", got)
	}
	if got := text(t, ctx, row+" .key-datasources"); got != "Vectara" {
		t.Errorf("datasources listed as %q", got)
	}
	if got := text(t, ctx, row+" .key-last-used"); got != "never" {
		t.Errorf("last used %q before any use", got)
	}
	if exists(t, ctx, "#k-ds-chips li") || exists(t, ctx, "#k-perm-read:checked") {
		t.Error("the form still holds the key just made")
	}
	shot(t, ctx, shots, "33-api-key-created")

	// On a phone the page, the new key with it, fits the screen.
	run(t, ctx, "phone", chromedp.EmulateViewport(375, 812), waitJS(`window.innerWidth === 375`))
	w, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`))
	if err != nil {
		t.Fatal(err)
	}
	if w[0] > w[1] {
		t.Errorf("the page is %d px wide in a %d px window", w[0], w[1])
	}
	shot(t, ctx, shots, "34-api-keys-375px")
	run(t, ctx, "desktop", chromedp.EmulateViewport(1280, 1000), waitJS(`window.innerWidth === 1280`))

	// A program with the key: it sees Vectara only, calls it through the
	// proxy, and may not write or touch the other datasource.
	code, body := s.withKey(t, key, "GET", "/api/v1/datasources")
	var list struct {
		Datasources []struct{ ID, Name string }
	}
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("list with the key: %d %s", code, body)
	}
	if len(list.Datasources) != 1 || list.Datasources[0].ID != vectara {
		t.Errorf("the key sees %+v, want Vectara only", list.Datasources)
	}
	if code, body := s.withKey(t, key, "GET", "/api/v1/datasources/"+vectara+"/proxy/whoami"); code != 200 || !strings.Contains(body, `"client_id":"svc"`) {
		t.Errorf("proxy with the key: %d %s", code, body)
	}
	if code, body := s.withKey(t, key, "GET", "/api/v1/datasources/"+other+"/proxy/whoami"); code != 403 {
		t.Errorf("proxy to another datasource with the key: %d %s", code, body)
	}
	if code, body := s.withKey(t, key, "DELETE", "/api/v1/datasources/"+vectara); code != 403 || !strings.Contains(body, "write") {
		t.Errorf("delete with a key without write: %d %s", code, body)
	}

	// Reloaded, the page has the key no more; the list shows it used.
	run(t, ctx, "reload", chromedp.Reload(), visible(row),
		waitJS(`document.querySelector('`+row+` .key-last-used').textContent.trim() !== 'never'`))
	if exists(t, ctx, "#key-created:not([hidden])") {
		t.Error("the new key's card is still shown after a reload")
	}
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML + document.querySelector('#key-value').value`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, key) || strings.Contains(html, key[:20]) {
		t.Error("the key is still in the page after a reload")
	}
	if got := text(t, ctx, row+" .key-last-used"); !strings.Contains(got, "ago") && got != "just now" {
		t.Errorf("last used %q after use", got)
	}
	if got := text(t, ctx, row+" .key-created-at"); !strings.Contains(got, "by a UI session") {
		t.Errorf("created %q", got)
	}
	shot(t, ctx, shots, "35-api-keys-list")

	// Revoked in the UI, after a confirmation that names it: refused.
	run(t, ctx, "revoke", click(row+" button.revoke"), visible("#confirm-ok"))
	if q := text(t, ctx, "#confirm-text"); !strings.Contains(q, "reporting job") {
		t.Errorf("the confirmation says %q", q)
	}
	shot(t, ctx, shots, "36-api-key-revoke")
	run(t, ctx, "confirm", click("#confirm-ok"), visible("#keys-empty"),
		waitJS(`document.querySelector('#banner').textContent.includes('Revoked reporting job')`))
	if code, body := s.withKey(t, key, "GET", "/api/v1/datasources"); code != 401 {
		t.Errorf("a revoked key: %d %s", code, body)
	}
}
