package outbound

import "testing"

func TestDropRequestHeader(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "authorization": true, "Cookie": true, "Host": true, "Content-Length": true,
		"Connection": true, "transfer-encoding": true, "Proxy-Authorization": true, "Expect": true,
		"X-Forwarded-For": true, "Forwarded": true,
		"Grantd-End-User": true, "grantd-subject-token": true, "X-Grantd-CSRF": true,
		"Accept": false, "Content-Type": false, "Idempotency-Key": false, "Notion-Version": false, "X-Api-Version": false,
		"Grant": false, "X-Grant": false,
	} {
		if got := DropRequestHeader(name); got != want {
			t.Errorf("DropRequestHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
