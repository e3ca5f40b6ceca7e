package sealed

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/grantd/grantd/datasource"
)

// Kinds of stored record. A record's tag binds its kind and the key it is
// stored under, so a record is valid only where grantd wrote it.
const (
	KindDatasource = "datasource"
	KindToken      = "token"
	KindState      = "state"
	KindEvent      = "event"
	KindDelivery   = "delivery"
	KindMeta       = "meta"
	KindConnection = "connection"
	KindAPIKey     = "apikey"
	// KindAgentSession is an agent session (MCP): hashes, never tokens.
	KindAgentSession = "agentsession"
	// KindStore is a store's own bookkeeping: its schema version, the
	// event count.
	KindStore = "store"
)

// The stored form of every record is the envelope
//
//	{"t":"<tag, base64>","r":<the record's JSON, byte for byte>}
//
// written and read at fixed offsets: reading it slices the record out
// without parsing it, and what the tag covers is exactly what is decoded.
// It is JSON, so etcdctl and bbolt tools still show readable records.
const (
	envHead = `{"t":"`
	envMid  = `","r":`
	maxTag  = 128 // base64 characters; Tink's AES-GCM tag of nothing is 44
)

// RecordError is returned for a stored record that does not authenticate:
// it was changed, or copied from under another key, by something other
// than grantd, is not in the envelope (written before records were
// authenticated, and never upgraded), or was tagged by a key the Sealer
// does not hold. errors.Is(err, datasource.ErrTampered) reports it.
type RecordError struct {
	Kind string
	// ID names the record for logs: its key, except for a delivery,
	// whose URL is replaced by a hash (webhook URLs may carry secrets).
	ID string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("sealed: %s %q: stored record failed authentication", e.Kind, e.ID)
}

// Unwrap returns datasource.ErrTampered.
func (e *RecordError) Unwrap() error { return datasource.ErrTampered }

// recordAD is the associated data of a record's tag: kind, key (length
// first, since keys may hold any byte) and the record.
func recordAD(kind, key string, rec []byte) []byte {
	return appendAD(make([]byte, 0, 40+len(kind)+len(key)+len(rec)), kind, key, rec)
}

func appendAD(ad []byte, kind, key string, rec []byte) []byte {
	ad = append(ad, "grantd/v1/record/"...)
	ad = append(ad, kind...)
	ad = append(ad, '/')
	ad = strconv.AppendInt(ad, int64(len(key)), 10)
	ad = append(ad, '/')
	ad = append(ad, key...)
	ad = append(ad, '/')
	return append(ad, rec...)
}

// Wrap returns the stored form of rec, a JSON value, stored under key as a
// record of kind: rec with a tag that authenticates all three.
//
// The tag is the Sealer's AEAD (AES-GCM in a Tink keyset) over an empty
// plaintext with the record as associated data: GMAC, a MAC, made with
// the keys that seal the secrets. Key rotation covers it as it covers
// them: a rotated keyset verifies old tags, and Reseal re-tags.
func (c Codec) Wrap(kind, key string, rec []byte) ([]byte, error) {
	if !json.Valid(rec) {
		return nil, fmt.Errorf("sealed: %s %q: the record is not JSON", kind, logID(kind, key))
	}
	tag, err := c.Sealer.Seal(nil, recordAD(kind, key, rec))
	if err != nil {
		return nil, fmt.Errorf("sealed: tagging %s %q: %w", kind, logID(kind, key), err)
	}
	out := make([]byte, 0, len(envHead)+base64.RawStdEncoding.EncodedLen(len(tag))+len(envMid)+len(rec)+1)
	out = append(out, envHead...)
	out = base64.RawStdEncoding.AppendEncode(out, tag)
	out = append(out, envMid...)
	out = append(out, rec...)
	return append(out, '}'), nil
}

// Unwrap returns the record in stored, a value written by Wrap for the
// same kind and key, after checking its tag. The result shares stored's
// memory. A record that does not authenticate is logged (kind and key,
// never content) and refused with a *RecordError.
func (c Codec) Unwrap(kind, key string, stored []byte) ([]byte, error) {
	rec, tag, ok := split(stored)
	if !ok {
		return nil, c.refuse(kind, key)
	}
	ad := adPool.Get().(*[]byte)
	defer adPool.Put(ad)
	// The tag is decoded into the pooled buffer too, after the
	// associated data: one allocation-free buffer for both.
	*ad = appendAD((*ad)[:0], kind, key, rec)
	n := len(*ad)
	*ad = append(*ad, make([]byte, base64.RawStdEncoding.DecodedLen(len(tag)))...)
	m, err := base64.RawStdEncoding.Decode((*ad)[n:], tag)
	if err != nil {
		return nil, c.refuse(kind, key)
	}
	if p, err := c.Sealer.Open((*ad)[n:n+m], (*ad)[:n]); err != nil || len(p) != 0 {
		return nil, c.refuse(kind, key)
	}
	return rec, nil
}

// adPool holds buffers for Unwrap's associated data: Schedules checks two
// tags per datasource, and a buffer per check was most of its garbage.
// The Sealer does not keep the slices it is given (Tink's AEAD does not).
var adPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// split cuts an envelope into the record and the tag, in base64.
func split(b []byte) (rec, tag []byte, ok bool) {
	if !bytes.HasPrefix(b, []byte(envHead)) || b[len(b)-1] != '}' {
		return nil, nil, false
	}
	rest := b[len(envHead) : len(b)-1]
	i := bytes.IndexByte(rest, '"')
	if i < 0 || i > maxTag {
		return nil, nil, false
	}
	tag, rest = rest[:i], rest[i:]
	if !bytes.HasPrefix(rest, []byte(envMid)) {
		return nil, nil, false
	}
	return rest[len(envMid):], tag, true
}

// Wrapped reports whether b has the shape of a stored record written by
// Wrap, without checking its tag. A store upgrading from a version that
// did not authenticate records uses it to tell its old records from ones
// that were already authenticated.
func Wrapped(b []byte) bool {
	_, _, ok := split(b)
	return ok
}

func (c Codec) refuse(kind, key string) error {
	id := logID(kind, key)
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	log.Error("stored record failed authentication; refusing it", "kind", kind, "id", id)
	return &RecordError{Kind: kind, ID: id}
}

// logID is how logs and errors name the record of kind under key.
func logID(kind, key string) string {
	if kind == KindDelivery {
		if ev, url, ok := strings.Cut(key, "\x00"); ok {
			h := sha256.Sum256([]byte(url))
			return ev + " url#" + hex.EncodeToString(h[:4])
		}
	}
	return key
}

// DeliveryKey is the key of the delivery of event eventID to url. Stores
// key deliveries by it, or by something it can be recovered from.
func DeliveryKey(eventID, url string) string { return eventID + "\x00" + url }

// EncodeEvent returns the stored form of e.
func (c Codec) EncodeEvent(e *datasource.Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindEvent, e.ID, b)
}

// DecodeEvent reads an event stored under id.
func (c Codec) DecodeEvent(id string, b []byte) (*datasource.Event, error) {
	rec, err := c.Unwrap(KindEvent, id, b)
	if err != nil {
		return nil, err
	}
	var e datasource.Event
	if err := json.Unmarshal(rec, &e); err != nil || e.ID != id {
		return nil, fmt.Errorf("%w: event", ErrFormat)
	}
	return &e, nil
}

// EncodeDelivery returns the stored form of d, stored under
// DeliveryKey(d.EventID, d.URL).
func (c Codec) EncodeDelivery(d *datasource.Delivery) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindDelivery, DeliveryKey(d.EventID, d.URL), b)
}

// DecodeDelivery reads a delivery stored under key (a DeliveryKey).
func (c Codec) DecodeDelivery(key string, b []byte) (*datasource.Delivery, error) {
	rec, err := c.Unwrap(KindDelivery, key, b)
	if err != nil {
		return nil, err
	}
	var d datasource.Delivery
	if err := json.Unmarshal(rec, &d); err != nil || DeliveryKey(d.EventID, d.URL) != key {
		return nil, fmt.Errorf("%w: delivery", ErrFormat)
	}
	return &d, nil
}

// EncodeMeta returns the stored form of the meta value v of key.
func (c Codec) EncodeMeta(key string, v []byte) ([]byte, error) {
	b, err := json.Marshal(v) // a JSON string: v in base64
	if err != nil {
		return nil, err
	}
	return c.Wrap(KindMeta, key, b)
}

// DecodeMeta reads the meta value stored under key.
func (c Codec) DecodeMeta(key string, b []byte) ([]byte, error) {
	rec, err := c.Unwrap(KindMeta, key, b)
	if err != nil {
		return nil, err
	}
	var v []byte
	if err := json.Unmarshal(rec, &v); err != nil {
		return nil, fmt.Errorf("%w: meta", ErrFormat)
	}
	return v, nil
}

// Rewrap checks the record stored under key with c and returns it tagged
// by next: what Reseal does to records that hold no secrets. A record
// that does not authenticate is refused, never re-tagged.
func (c Codec) Rewrap(next Codec, kind, key string, stored []byte) ([]byte, error) {
	rec, err := c.Unwrap(kind, key, stored)
	if err != nil {
		return nil, err
	}
	return next.Wrap(kind, key, rec)
}
