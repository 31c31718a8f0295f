// Package archcheck holds one test: the import edges between pushi's own
// packages must be exactly those in the "imports" block of
// docs/architecture.md, so the documented package diagram stays true.
// It has no code; scripts/test.sh runs the test (go test ./...).
package archcheck
