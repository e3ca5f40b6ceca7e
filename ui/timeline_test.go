package ui_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestUITimeline: a datasource's page shows the last hour — the token it
// obtained and the one a refresh replaced it with, as bars, and the calls
// just proxied, as a bar for this minute.
func TestUITimeline(t *testing.T) {
	s := startServer(t)
	ctx, shots := browser(t)
	signIn(t, ctx, s)
	newCC(t, ctx, s, "Timed", s.provider.TokenURL(), "svc-secret")
	id := location(t, ctx)[strings.LastIndex(location(t, ctx), "/")+1:]
	s.call(t, "POST", "/api/v1/datasources/"+id+"/refresh", nil, 200, nil)
	for range 7 {
		s.call(t, "GET", "/api/v1/datasources/"+id+"/proxy/whoami", nil, 200, nil)
	}
	run(t, ctx, "reload", chromedp.Reload(), visible("#timeline-summary"),
		waitJS(`document.querySelectorAll('#timeline .tl-token').length === 2`),
		waitJS(`document.querySelector('#timeline .tl-current') !== null`))
	shot(t, ctx, shots, "40-timeline")
	calls, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#timeline .tl-calls')].map(b => +b.dataset.calls).reduce((a, b) => a + b, 0).toString()`))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(calls); n != 7 {
		t.Errorf("the chart shows %s calls, want 7", calls)
	}
	if sum := text(t, ctx, "#timeline-summary"); !strings.Contains(sum, "2 tokens, 0 failures; 7 calls") {
		t.Errorf("summary %q", sum)
	}
}
