package grants

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/grantd/grantd/datasource"
)

// Connecting an end user to a per-user datasource of a static auth type:
// there is no provider to send the browser to, so the connect link opens
// a form on grantd where the end user enters their own credential.
//
//  1. OpenConnectForm consumes the connect link (a link works once) and
//     stores a form session in its place: keyed by a hash of the same link
//     token, bound to the browser's binding cookie, expiring after
//     datasource.StateTTL. Opening the link again in that browser (a
//     reload) shows the form again; any other browser is refused.
//  2. SubmitConnectForm takes the credential: it needs the link token (in
//     the form's URL) and the binding cookie, so no other site can post
//     one for the end user (CSRF), checks it, consumes the form session
//     atomically, stores the connection and the credential sealed on its
//     token record, and answers like Callback.

// ConnectForm is what the connect page of a static auth type shows.
type ConnectForm struct {
	DatasourceID string
	// Name and Description are the datasource's.
	Name, Description string
	Type              datasource.AuthType
	// Fields are what the end user enters (datasource.CredentialFields).
	Fields    []datasource.CredentialField
	EndUserID string
	EndUser   datasource.EndUser
	// ReturnTo is where the browser goes afterwards (empty: grantd's own
	// page for the outcome); the page must allow its origin as a form
	// target, since the submission redirects there.
	ReturnTo string
}

// formKey is the store key of the form session of a connect link: a hash
// of the link's token, kept apart from connect links and states.
func formKey(token string) string { return "f" + StateKey("connect form\x00"+token) }

// formFingerprint is what a form session remembers of its datasource: a
// change of auth type or of the url's origin while the form is open makes
// the submission fail (the credential was asked for another place).
func formFingerprint(d *datasource.Datasource) string {
	return string(d.Auth.Kind()) + " " + datasource.Origin(d.URL)
}

// OpenConnectForm opens a connect link of a static auth type in the end
// user's browser (binding is its cookie) and returns the form to show. It
// returns nil and no error for a link that is not one (an OAuth 2.0
// datasource's, or an unknown token): OpenConnectSession handles those,
// and says what is wrong with an unknown one.
//
// Errors: ErrInvalidState (expired link or form, a form opened in another
// browser); datasource.ErrNotFound; store failures.
func (e *Engine) OpenConnectForm(ctx context.Context, token, binding string) (*ConnectForm, error) {
	if token == "" || len(token) > 512 {
		return nil, nil
	}
	now := e.clock.Now()
	st, err := e.store.State(ctx, ConnectKey(token))
	switch {
	case errors.Is(err, datasource.ErrNotFound):
		return e.reopenForm(ctx, token, binding)
	case err != nil:
		return nil, err
	case !st.Connect:
		return nil, nil
	}
	d, err := e.store.Datasource(ctx, st.DatasourceID)
	if err != nil || !d.Auth.Kind().Static() {
		return nil, nil // OpenConnectSession reports it
	}
	st, err = e.store.ConsumeState(ctx, ConnectKey(token))
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, &StateError{Reason: "unknown or already used connect link"}
	}
	if err != nil {
		return nil, err
	}
	if st.Expired(now) {
		return nil, &StateError{Reason: "expired connect link"}
	}
	fs := &datasource.State{
		Key: formKey(token), DatasourceID: d.ID, Binding: bindingHash(binding), ReturnTo: st.ReturnTo,
		Fingerprint: formFingerprint(d), CreatedAt: now, ExpiresAt: now.Add(datasource.StateTTL),
		Connect: true, EndUserID: st.EndUserID, EndUser: st.EndUser, ConnectionConfig: st.ConnectionConfig,
	}
	if err := e.store.SaveState(ctx, fs); err != nil {
		return nil, err
	}
	return formOf(d, fs), nil
}

// reopenForm shows the form of a link already opened in this browser.
func (e *Engine) reopenForm(ctx context.Context, token, binding string) (*ConnectForm, error) {
	fs, d, err := e.formSession(ctx, token, binding)
	if errors.Is(err, errNoForm) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return formOf(d, fs), nil
}

var errNoForm = errors.New("grants: no connect form")

// formSession reads and checks the form session of token for the
// browser with binding, without consuming it.
func (e *Engine) formSession(ctx context.Context, token, binding string) (*datasource.State, *datasource.Datasource, error) {
	if token == "" || len(token) > 512 {
		return nil, nil, errNoForm
	}
	fs, err := e.store.State(ctx, formKey(token))
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, nil, errNoForm
	}
	if err := e.checkForm(fs, err, binding); err != nil {
		return nil, nil, err
	}
	d, err := e.store.Datasource(ctx, fs.DatasourceID)
	if err != nil {
		return nil, nil, err
	}
	return fs, d, nil
}

func (e *Engine) checkForm(fs *datasource.State, err error, binding string) error {
	switch {
	case errors.Is(err, datasource.ErrNotFound):
		return &StateError{Reason: "unknown or already used connect link"}
	case err != nil:
		return err
	case !fs.Connect:
		return &StateError{Reason: "not a connect link"}
	case fs.Expired(e.clock.Now()):
		return &StateError{Reason: "expired connect link"}
	case subtle.ConstantTimeCompare(fs.Binding, bindingHash(binding)) != 1:
		return &StateError{Reason: "opened in another browser"}
	}
	return nil
}

func formOf(d *datasource.Datasource, fs *datasource.State) *ConnectForm {
	return &ConnectForm{DatasourceID: d.ID, Name: d.Name, Description: d.Description, Type: d.Auth.Kind(),
		Fields: datasource.CredentialFields(d.Auth.Kind()), EndUserID: fs.EndUserID, EndUser: fs.EndUser, ReturnTo: fs.ReturnTo}
}

// SubmitConnectForm stores the credential an end user entered on the
// connect form of token, in the browser with binding. The form session is
// read and checked first (unknown, expired, another browser:
// ErrInvalidState, nothing changes); the credential is checked next
// (*datasource.ValidationError naming the form's fields; the form stays
// usable); then the form session is consumed, atomically, the connection
// created or kept (reconnected), and the credential stored sealed on its
// token record, replacing what it held. A datasource that changed its
// auth type or url origin meanwhile is reported in the result
// (datasource_changed), like Callback does.
func (e *Engine) SubmitConnectForm(ctx context.Context, token, binding string, cred datasource.Credential) (*CallbackResult, error) {
	fs, d, err := e.formSession(ctx, token, binding)
	if errors.Is(err, errNoForm) {
		return nil, &StateError{Reason: "unknown or already used connect link"}
	}
	if err != nil {
		return nil, err
	}
	res := &CallbackResult{DatasourceID: fs.DatasourceID, EndUserID: fs.EndUserID, ReturnTo: fs.ReturnTo}
	changed := formFingerprint(d) != fs.Fingerprint || !d.PerUser()
	if !changed {
		if err := datasource.ValidateCredential(d.Auth.Kind(), &cred); err != nil {
			return nil, err
		}
	}
	fs, err = e.store.ConsumeState(ctx, formKey(token))
	if err := e.checkForm(fs, err, binding); err != nil {
		return nil, err
	}
	if changed {
		res.ErrorCode, res.ErrorDescription = "datasource_changed", "the datasource's authentication changed while connecting; start again"
		return res, nil
	}
	now := e.now()
	created, err := e.store.SaveConnection(ctx, &datasource.Connection{DatasourceID: d.ID, EndUserID: fs.EndUserID,
		EndUser: fs.EndUser, Config: fs.ConnectionConfig, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return nil, err
	}
	key := datasource.Key{Datasource: d.ID, EndUser: fs.EndUserID}
	e.forgetEntry(key) // it may have been loaded without the connection
	err = e.exclusive(ctx, key, func(en *entry, cur *datasource.TokenRecord) error {
		var gen uint64
		if cur != nil {
			gen = cur.Generation
		}
		nr := &datasource.TokenRecord{Generation: gen + 1, Status: datasource.StatusAuthorized, Credential: cred}
		if err := e.save(ctx, key, nr, gen); err != nil {
			return err
		}
		e.install(en, d, nr)
		res.Authorization = nr.Authorization()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Reconnected = !created
	e.log.Info("end user entered a credential", "datasource", d.ID, "endUser", fs.EndUserID, "type", d.Auth.Kind(), "reconnected", res.Reconnected)
	e.checkSoon(key, d)
	return res, nil
}
