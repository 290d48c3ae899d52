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

// countReadDir counts the listings of key folders while the test runs.
func countReadDir(t *testing.T) *int {
	t.Helper()
	n := new(int)
	orig := readDir
	readDir = func(dir string) ([]os.DirEntry, error) {
		*n++
		return orig(dir)
	}
	t.Cleanup(func() { readDir = orig })
	return n
}

// settle dates the key folder as if its last change were an hour ago.
func settle(t *testing.T, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
}

// Issue 18: a seat link verifies its license against the keyring, and
// listing the key folder with a stat of every key on each call was 8% of
// its CPU. Once the folder has settled it is read once, not on every call.
// (Not parallel: it counts the calls of a package variable.)
func TestSettledKeyFolderIsReadOnce(t *testing.T) {
	s := New(t.TempDir(), "")
	if _, err := s.Generate(true); err != nil {
		t.Fatal(err)
	}
	settle(t, s.Dir)
	reads := countReadDir(t)
	for range 100 {
		if _, err := s.Keyring(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signer(); err != nil {
			t.Fatal(err)
		}
	}
	if *reads != 1 {
		t.Errorf("200 calls listed the key folder %d times, want once", *reads)
	}
}

// A key generated or rotated by another process sharing the folder is
// used at once, whether the folder had settled before the change or was
// changed a moment before (when a coarse file system clock may give both
// changes one time, so the folder's time cannot be trusted yet).
func TestKeyChangedByAnotherProcessIsSeenAtOnce(t *testing.T) {
	dir := t.TempDir()
	mine, other := New(dir, ""), New(dir, "")
	first, err := other.Generate(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, settled := range []bool{true, false, false} {
		if settled {
			settle(t, dir)
		}
		if sg, err := mine.Signer(); err != nil {
			t.Fatal(err)
		} else if sg.KeyID() != first {
			t.Errorf("settled=%v: signing with %s, want %s", settled, sg.KeyID(), first)
		}
		if _, err := mine.Keyring(); err != nil {
			t.Fatal(err)
		}
		next, _, err := other.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		sg, err := mine.Signer()
		if err != nil {
			t.Fatal(err)
		}
		if sg.KeyID() != next {
			t.Errorf("settled=%v: signing with %s after another process rotated from %s to %s", settled, sg.KeyID(), first, next)
		}
		if err := other.Remove(first); err != nil {
			t.Fatal(err)
		}
		list, err := mine.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range list {
			if k.KID == first {
				t.Errorf("settled=%v: key %s still listed after another process removed it", settled, first)
			}
		}
		first = next
	}
}
