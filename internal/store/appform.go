package store

import "github.com/pushi-io/pushi/internal/apps"

// NewStoredApp is a registered app in its stored form: the previous
// secret moves to the fields the store keeps (apps.App does not marshal it).
func NewStoredApp(a apps.App, fromConfig bool) StoredApp {
	return StoredApp{App: a, PreviousSecret: a.PreviousSecret, PreviousValidUntil: a.PreviousValidUntil, FromConfig: fromConfig}
}

// Registered is the app as the registry holds it, previous secret included.
func (s StoredApp) Registered() apps.App {
	a := s.App
	a.PreviousSecret, a.PreviousValidUntil = s.PreviousSecret, s.PreviousValidUntil
	return a
}
