//go:build !unix

package secretref_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs here") }
