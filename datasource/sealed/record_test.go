package sealed

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/internal/testlog"
)

func TestWrapUnwrap(t *testing.T) {
	ks, err := crypto.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	c := Codec{Sealer: ks, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	rec := []byte(`{"v":1,"accessTokenUrl":"https://id.example/token"}`)
	b, err := c.Wrap(KindDatasource, "ds_1", rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, rec) || !Wrapped(b) || Wrapped(rec) {
		t.Fatalf("stored form %s", b)
	}
	got, err := c.Unwrap(KindDatasource, "ds_1", b)
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("unwrap: %s %v", got, err)
	}

	rotated, _ := ks.Rotate()
	if got, err := (Codec{Sealer: rotated}).Unwrap(KindDatasource, "ds_1", b); err != nil || !bytes.Equal(got, rec) {
		t.Errorf("a rotated keyset refuses an old tag: %v", err)
	}

	other, _ := crypto.NewKeyset()
	changed := bytes.Replace(b, []byte("id.example"), []byte("evil.example"), 1)
	for _, c2 := range []struct {
		name      string
		c         Codec
		kind, key string
		stored    []byte
	}{
		{"a field changed", c, KindDatasource, "ds_1", changed},
		{"another key", c, KindDatasource, "ds_2", b},
		{"another kind", c, KindToken, "ds_1", b},
		{"another keyset", Codec{Sealer: other, Log: c.Log}, KindDatasource, "ds_1", b},
		{"no envelope", c, KindDatasource, "ds_1", rec},
		{"tag of another record", c, KindDatasource, "ds_1", append(append([]byte{}, b[:bytes.Index(b, []byte(envMid))+len(envMid)]...), `{"v":1}}`...)},
		{"empty", c, KindDatasource, "ds_1", nil},
		{"bad base64", c, KindDatasource, "ds_1", []byte(`{"t":"!!","r":{}}`)},
		{"tag too long", c, KindDatasource, "ds_1", []byte(`{"t":"` + strings.Repeat("A", 200) + `","r":{}}`)},
	} {
		_, err := c2.c.Unwrap(c2.kind, c2.key, c2.stored)
		var re *RecordError
		if !errors.Is(err, datasource.ErrTampered) || !errors.As(err, &re) || re.Kind != c2.kind {
			t.Errorf("%s: %v, want a RecordError for ErrTampered", c2.name, err)
		}
	}
	if out := logs.String(); !strings.Contains(out, `msg="stored record failed authentication; refusing it" kind=datasource id=ds_1`) ||
		strings.Contains(out, "evil.example") || strings.Contains(out, "id.example") {
		t.Errorf("log:\n%s", out)
	}
}

// Keys may hold any byte, records are bytes too: the associated data
// keeps them apart, so a key and record cannot be re-cut into another
// key and record under the same tag.
func TestRecordADIsUnambiguous(t *testing.T) {
	if bytes.Equal(recordAD(KindStore, "a", []byte("12")), recordAD(KindStore, "a1", []byte("2"))) {
		t.Error("key and record run together")
	}
	ks, _ := crypto.NewKeyset()
	c := Codec{Sealer: ks, Log: slog.New(slog.DiscardHandler)}
	b, _ := c.Wrap(KindStore, "a", []byte("12"))
	rec, tag, _ := split(b)
	forged := append(append(append([]byte(envHead), tag...), envMid...), rec[1:]...)
	forged = append(forged, '}')
	if _, err := c.Unwrap(KindStore, "a1", forged); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("re-cut record: %v", err)
	}
}

func TestWrapRefusesNonJSON(t *testing.T) {
	ks, _ := crypto.NewKeyset()
	if _, err := (Codec{Sealer: ks}).Wrap(KindMeta, "k", []byte{0xff, 0x00}); err == nil {
		t.Error("wrapped bytes that are not JSON")
	}
}

func TestDeliveryLogIDHidesTheURL(t *testing.T) {
	ks, _ := crypto.NewKeyset()
	var logs testlog.Buffer
	c := Codec{Sealer: ks, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	d := &datasource.Delivery{EventID: "ev_1", URL: "https://hooks.example/T0KEN-in-the-path", NextAt: time.Unix(1, 0).UTC()}
	b, err := c.EncodeDelivery(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeDelivery(DeliveryKey(d.EventID, d.URL), b)
	if err != nil || *got != *d {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	_, err = c.DecodeDelivery(DeliveryKey("ev_2", d.URL), b)
	if !errors.Is(err, datasource.ErrTampered) || strings.Contains(err.Error(), "T0KEN") || strings.Contains(logs.String(), "T0KEN") {
		t.Errorf("refusal %v names the URL; log:\n%s", err, logs.String())
	}
}

func TestMetaAndEventRoundTrip(t *testing.T) {
	ks, _ := crypto.NewKeyset()
	c := Codec{Sealer: ks, Log: slog.New(slog.DiscardHandler)}
	v := []byte{0, 1, 2, 0xff, '"', '}'}
	b, err := c.EncodeMeta("admin-token-sha256", v)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodeMeta("admin-token-sha256", b); err != nil || !bytes.Equal(got, v) {
		t.Errorf("meta: %x %v", got, err)
	}
	if _, err := c.DecodeMeta("session-key", b); !errors.Is(err, datasource.ErrTampered) {
		t.Errorf("meta under another key: %v", err)
	}
	e := &datasource.Event{ID: "ev_1", Type: datasource.EventUpdated, Time: time.Unix(5, 0).UTC(), DatasourceID: "ds_1", Detail: "x"}
	b, err = c.EncodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodeEvent("ev_1", b); err != nil || *got != *e {
		t.Errorf("event: %+v %v", got, err)
	}
}
