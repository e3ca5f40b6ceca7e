package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestUIProviderPicker: a new datasource starts from the searchable
// catalogue; picking Zendesk fills the form with its templates and asks
// for its subdomain, and the saved datasource names the provider.
func TestUIProviderPicker(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	run(t, ctx, "picker", click("#new-datasource"), visible("#provider-picker"), fill("#provider-search", "zend"),
		waitJS(`document.querySelectorAll('#provider-cards .provider-card:not([data-provider=""]):not([hidden])').length === 1`))
	shot(t, ctx, shots, "30-provider-search")
	if names := content(t, ctx, `#provider-cards .provider-card:not([data-provider=""]):not([hidden])`); !strings.Contains(names, "Zendesk") {
		t.Errorf("search zend shows %q", names)
	}
	run(t, ctx, "nothing matches", fill("#provider-search", "no-such-provider-xyz"), visible("#provider-none"))

	run(t, ctx, "pick zendesk", click(`#provider-cards [data-provider=""]`), fill("#provider-search", "zendesk"),
		click(`[data-provider="zendesk"]`), visible("#provider-chosen"),
		waitJS(`document.querySelector('#f-connectionConfig .row-key')?.value === 'subdomain'`))
	shot(t, ctx, shots, "31-provider-zendesk")
	tokenURL, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-auth-accessTokenUrl').value`))
	if err != nil {
		t.Fatal(err)
	}
	url, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#f-url').value`))
	if err != nil {
		t.Fatal(err)
	}
	heading := content(t, ctx, "h1")
	if tokenURL != "https://{subdomain}.zendesk.com/oauth/tokens" || url != "https://{subdomain}.zendesk.com/api/v2" || !strings.Contains(heading, "Zendesk") {
		t.Errorf("form not filled from the entry: token URL %q, url %q, heading %q", tokenURL, url, heading)
	}
	if !strings.Contains(content(t, ctx, "#provider-chosen"), "https://") {
		t.Error("the chosen provider's documentation is not cited")
	}

	// Without the subdomain the save is refused next to the field.
	run(t, ctx, "save without subdomain", fill("#f-name", "Support"), fill("#f-auth-clientId", "zd"), fill("#f-auth-clientSecret", "zd-secret"),
		click("#save"), visible(`[data-error-for="connectionConfig"]:not([hidden])`))
	if msg := content(t, ctx, `[data-error-for="connectionConfig"]`); !strings.Contains(msg, "subdomain") {
		t.Errorf("missing subdomain: error %q", msg)
	}
	run(t, ctx, "save", fill("#f-connectionConfig .row-value", "acme"), click("#save"), visible("#ds-name"))

	req, _ := http.NewRequest("GET", s.URL+"/api/v1/datasources", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var list struct {
		Datasources []struct {
			Name, Provider   string
			ConnectionConfig map[string]string
			Auth             struct{ ScopeSeparator, ClientAuthentication string }
		}
	}
	json.Unmarshal(b, &list)
	if len(list.Datasources) != 1 || list.Datasources[0].Provider != "zendesk" || list.Datasources[0].ConnectionConfig["subdomain"] != "acme" ||
		list.Datasources[0].Auth.ClientAuthentication != "body" {
		t.Errorf("saved: %s", b)
	}
}
