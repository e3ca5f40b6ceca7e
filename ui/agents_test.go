package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestUIAgentSession: on a datasource's page, a person makes an agent
// session for an end user and copies the MCP URL and the token; the SDK's
// MCP client then connects with exactly what was copied and sees the
// datasource.
func TestUIAgentSession(t *testing.T) {
	s := startServer(t)
	id := s.create(t, s.ccBody("Weather", s.provider.TokenURL(), "svc-secret"))
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	run(t, ctx, "clipboard", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: s.URL})
			if err != nil {
				return err
			}
		}
		return nil
	}))

	run(t, ctx, "detail", chromedp.Navigate(s.URL+"/datasources/"+id), visible("#agent-form"))
	// A bad end user id is refused on the page.
	run(t, ctx, "bad id", fill("#agent-end-user", "a b"), click("#agent-create"), visible("#agent-error"))
	run(t, ctx, "create", setValue("#agent-end-user", "user-7"),
		setValue("#agent-ttl", "28800"), click("#agent-create"), visible("#agent-result"),
		waitJS(`document.querySelector('#agent-error').hidden`))
	shot(t, ctx, shots, "40-agent-session")
	copied := map[string]string{}
	for _, f := range []string{"mcp-url", "token"} {
		run(t, ctx, "copy "+f, click("#copy-agent-"+f), waitJS(`document.querySelector('#copy-agent-`+f+`').textContent === 'Copied'`))
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read the clipboard: %v", err)
		}
		if shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#agent-`+f+`').value`)); err != nil || shown != v {
			t.Fatalf("copied %q, the page shows %q", v, shown)
		}
		copied[f] = v
	}
	if copied["mcp-url"] != s.URL+"/mcp" || !strings.HasPrefix(copied["token"], "ga_") {
		t.Fatalf("copied %q and a token of %d characters", copied["mcp-url"], len(copied["token"]))
	}

	cs, err := sdk.NewClient(&sdk.Implementation{Name: "ui-test", Version: "v0"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: copied["mcp-url"], HTTPClient: &http.Client{Transport: bearer{copied["token"]}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("the copied URL and token do not open MCP: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "list_datasources"})
	if err != nil || res.IsError {
		t.Fatalf("list_datasources: %v %+v", err, res)
	}
	if tc, ok := res.Content[0].(*sdk.TextContent); !ok || !strings.Contains(tc.Text, `"Weather"`) || !strings.Contains(tc.Text, `"user-7"`) {
		t.Errorf("list_datasources with the copied token: %+v", res.Content)
	}
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}
