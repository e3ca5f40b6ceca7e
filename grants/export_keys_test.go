package grants

import "net/http"

// HTTPRequest is r as a Request, for tests that call Target.Send.
func HTTPRequest(r *http.Request) Request { return httpRequest{r} }
