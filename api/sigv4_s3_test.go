package api_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/grantd/grantd/grants/grantstest"
)

// s3Server is an S3-compatible server in process (gofakes3 on an
// in-memory backend) behind a gate that checks each request's AWS SigV4
// signature the way S3 does, by signing it again with the AWS SDK's
// signer (grantstest.VerifySigV4): gofakes3 itself accepts any
// signature, so without the gate a missing or wrong one would pass.
type s3Server struct {
	*httptest.Server
	mem *s3mem.Backend

	mu       sync.Mutex
	payloads []string // the signed payload hash of each accepted request
	refused  []string // why each refused request was refused
}

func newS3Server(t *testing.T, h *harness, bucket string) *s3Server {
	t.Helper()
	s := &s3Server{mem: s3mem.New()}
	if err := s.mem.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(s.mem).Server()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig, err := grantstest.VerifySigV4(r, body, func(id string) (string, bool) { return atSecretKey, id == atAccessKeyID }, h.clock.Now())
		if err == nil && (sig.Service != "s3" || sig.Region != "us-east-1" || sig.SessionToken != atSessionToken) {
			err = io.ErrUnexpectedEOF // any: the scope or the session token is wrong
		}
		s.mu.Lock()
		if err != nil {
			s.refused = append(s.refused, err.Error())
		} else {
			s.payloads = append(s.payloads, sig.PayloadHash)
		}
		s.mu.Unlock()
		if err != nil {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<Error><Code>SignatureDoesNotMatch</Code></Error>")
			return
		}
		// S3 consumes the session token; gofakes3 would keep every X-Amz-*
		// request header as object metadata and answer it on a GET.
		r.Header.Del("X-Amz-Security-Token")
		r.Body = io.NopCloser(bytes.NewReader(body))
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *s3Server) lastPayload() (string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.payloads) == 0 {
		return "", s.refused
	}
	return s.payloads[len(s.payloads)-1], s.refused
}

// TestSigV4AgainstS3Server: an awsSigV4 datasource for service s3, with a
// session token, used through the real proxy against an S3-compatible
// server in process (gofakes3) that checks every signature with the AWS
// SDK: an object with a space and a plus in its key is put, read back,
// listed and deleted; a body larger than the proxy buffers streams as
// UNSIGNED-PAYLOAD and is stored whole; a datasource with the wrong
// secret is refused by the server and stores nothing.
func TestSigV4AgainstS3Server(t *testing.T) {
	h := newHarness(t, harnessOptions{proxyBody: 8 << 20})
	h.addSecret(atSecretKey, atSessionToken)
	s3 := newS3Server(t, h, "photos")
	d := h.create(map[string]any{"name": "photos", "url": s3.URL, "auth": map[string]any{"type": "awsSigV4",
		"accessKeyId": atAccessKeyID, "secretAccessKey": atSecretKey, "sessionToken": atSessionToken, "region": "us-east-1", "service": "s3"}})
	proxy := "/api/v1/datasources/" + d.ID + "/proxy/photos/"

	code, b, _ := h.do("PUT", proxy+"a%20b+c.jpg", "small object", "Content-Type", "image/jpeg")
	payload, refused := s3.lastPayload()
	if code != 200 || payload == "UNSIGNED-PAYLOAD" || payload == "" {
		t.Fatalf("put: %d %s (payload %q, refused: %v)", code, b, payload, refused)
	}
	obj, err := s3.mem.HeadObject("photos", "a b+c.jpg")
	if err != nil || obj.Size != int64(len("small object")) {
		t.Fatalf("the object as stored: %+v %v", obj, err)
	}
	if code, b, _ = h.do("GET", proxy+"a%20b+c.jpg", nil); code != 200 || string(b) != "small object" {
		t.Errorf("get: %d %s", code, b)
	}
	if code, b, _ = h.do("GET", "/api/v1/datasources/"+d.ID+"/proxy/photos?list-type=2&prefix=a%20", nil); code != 200 ||
		!strings.Contains(string(b), "<Key>a b+c.jpg</Key>") {
		t.Errorf("list: %d %s", code, b)
	}

	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB, over the 1 MiB the proxy buffers
	code, b, _ = h.do("PUT", proxy+"big.bin", big, "Content-Type", "application/octet-stream")
	payload, refused = s3.lastPayload()
	if code != 200 || payload != "UNSIGNED-PAYLOAD" {
		t.Fatalf("a large body: %d %s (payload %q, refused: %v)", code, b, payload, refused)
	}
	if obj, err := s3.mem.HeadObject("photos", "big.bin"); err != nil || obj.Size != int64(len(big)) {
		t.Errorf("the large object as stored: %+v %v", obj, err)
	}

	if code, b, _ = h.do("DELETE", proxy+"a%20b+c.jpg", nil); code != 204 {
		t.Errorf("delete: %d %s", code, b)
	}
	if _, err := s3.mem.HeadObject("photos", "a b+c.jpg"); err == nil {
		t.Errorf("the object is still there after the delete")
	}

	// The wrong secret: the server refuses the signature, nothing stored.
	const wrong = "sk-wrong-0f1e2d3c"
	h.addSecret(wrong)
	bad := h.create(map[string]any{"name": "wrong", "url": s3.URL, "auth": map[string]any{"type": "awsSigV4",
		"accessKeyId": atAccessKeyID, "secretAccessKey": wrong, "sessionToken": atSessionToken, "region": "us-east-1", "service": "s3"}})
	code, b, _ = h.do("PUT", "/api/v1/datasources/"+bad.ID+"/proxy/photos/planted.txt", "x")
	if _, refused = s3.lastPayload(); code != 403 || len(refused) != 1 || !strings.Contains(refused[0], "signature") {
		t.Errorf("the wrong secret: %d %s (refused: %v)", code, b, refused)
	}
	if _, err := s3.mem.HeadObject("photos", "planted.txt"); err == nil {
		t.Errorf("a request with a wrong signature stored an object")
	}
}
