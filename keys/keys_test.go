package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

func sign(t *testing.T, s *Store) []byte {
	t.Helper()
	signer, err := s.Signer()
	if err != nil {
		t.Fatal(err)
	}
	f, err := signer.Sign(license.Payload{ID: "lic_1", Plan: "p", Seats: 1, IssuedAt: time.Now().Add(-time.Hour).Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRotateAndRemove(t *testing.T) {
	s := New(t.TempDir(), "")
	if _, err := s.Signer(); err == nil {
		t.Fatal("an empty store has a signer")
	}
	first, err := s.Generate(false)
	if err != nil {
		t.Fatal(err)
	}
	old := sign(t, s)
	fi, err := os.Stat(filepath.Join(s.Dir, first+".key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	second, prev, err := s.Rotate()
	if err != nil || prev != first || second == first {
		t.Fatalf("rotate: %s %s %v", second, prev, err)
	}
	list, _ := s.List()
	if len(list) != 2 || list[0].KID != second || list[0].Status != "active" || list[1].Status != "retired" {
		t.Fatalf("keys after rotation: %+v", list)
	}
	ring, _ := s.Keyring()
	if _, err := ring.Verify(old, time.Now()); err != nil {
		t.Fatalf("an old license fails while its key is trusted: %v", err)
	}
	if err := s.Remove(second); err == nil {
		t.Fatal("removed the active key")
	}
	if err := s.Remove(first); err != nil {
		t.Fatal(err)
	}
	ring, _ = s.Keyring()
	if _, err := ring.Verify(old, time.Now()); err == nil {
		t.Fatal("an old license still verifies after its key was removed")
	}
	if _, err := ring.Verify(sign(t, s), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// A key file that others can read is refused, from the folder or from
// FULFILL_SIGNING_KEY_FILE.
func TestRefusesReadableKeys(t *testing.T) {
	s := New(t.TempDir(), "")
	kid, err := s.Generate(true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir, kid+".key")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(s.Dir, "").Signer(); err == nil || !strings.Contains(err.Error(), "can be read by others") {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(t.TempDir(), path).Signer(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("external file: err = %v", err)
	}
	os.Chmod(path, 0o600)
	ext := New(t.TempDir(), path)
	if sg, err := ext.Signer(); err != nil || sg.KeyID() != kid {
		t.Fatalf("external key: %v", err)
	}
	if _, _, err := ext.Rotate(); err == nil {
		t.Fatal("rotated an external key")
	}
}
