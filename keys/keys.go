// Package keys keeps the license signing keys in files: one Ed25519 private
// key per file, mode 0600, in the data directory's key folder (or one file
// named by an environment variable). Keys never enter the database or a log.
// The active key signs; retired keys stay trusted for verification until
// they are removed, so keys rotate without breaking issued licenses.
package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

const activeFile = "active"

// Key describes one key, without its private part.
type Key struct {
	KID       string    `json:"kid"`
	Algorithm string    `json:"algorithm"`
	PublicKey string    `json:"public_key"`
	Status    string    `json:"status"` // "active" or "retired"
	CreatedAt time.Time `json:"created_at"`
}

// Store is a folder of keys.
type Store struct {
	Dir string
	// File, when set, is the active signing key, kept outside Dir (for
	// example mounted from a secret store).
	File string

	mu     sync.Mutex
	cached *loaded
	stamp  string
}

type loaded struct {
	signer  *license.Signer
	keyring *license.Keyring
	keys    []Key
}

// New returns the store for dir, with an optional external key file.
func New(dir, file string) *Store { return &Store{Dir: dir, File: file} }

func readKey(path string) (ed25519.PrivateKey, os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("key file %s can be read by others (mode %04o): run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	priv, err := license.ParsePrivateKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return priv, fi, nil
}

// settleAfter is how old the key folder's (and the key file's) last change
// must be before its time alone is trusted to tell a change. A file system
// dates a change with a coarse clock, so two changes a few milliseconds
// apart may carry the same time: a stamp taken between them would miss the
// second. Until then (the way git treats a "racily clean" index) the stamp
// is the listing of the folder with each file's size and time, as it
// always was before.
const settleAfter = 2 * time.Second

// readDir lists the key folder (a variable so that tests count the calls).
var readDir = os.ReadDir

// stampOf changes whenever a key is added, removed or activated: each of
// those creates, renames or removes a file in the folder, which dates the
// folder, so once the folder has settled one stat of it (and of the
// external key file) tells. Listing the folder and a stat of every file on
// every call was 8% of a seat link's CPU.
func (s *Store) stampOf(now time.Time) string {
	b := make([]byte, 0, 64)
	settled := true
	note := func(name string, fi os.FileInfo) {
		b = append(b, name...)
		b = append(strconv.AppendInt(append(b, ':'), fi.Size(), 10), ':')
		b = append(strconv.AppendInt(b, fi.ModTime().UnixNano(), 10), ';')
		if now.Sub(fi.ModTime()) < settleAfter {
			settled = false
		}
	}
	if fi, err := os.Stat(s.Dir); err == nil {
		note("dir", fi)
	}
	if s.File != "" {
		if fi, err := os.Stat(s.File); err == nil {
			note("file", fi)
		}
	}
	if settled {
		return string(b)
	}
	b = append(b, "files;"...)
	entries, _ := readDir(s.Dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			note(e.Name(), fi)
		}
	}
	return string(b)
}

// load returns the keys, read again from their files when the folder has
// changed since they were last read (stampOf).
func (s *Store) load() (*loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := s.stampOf(time.Now())
	if s.cached != nil && stamp == s.stamp {
		return s.cached, nil
	}
	l := &loaded{}
	active := ""
	if b, err := os.ReadFile(filepath.Join(s.Dir, activeFile)); err == nil {
		active = strings.TrimSpace(string(b))
	}
	var pubs []ed25519.PublicKey
	add := func(priv ed25519.PrivateKey, fi os.FileInfo, isActive bool) {
		signer := license.NewSigner(priv)
		for _, k := range l.keys {
			if k.KID == signer.KeyID() {
				return
			}
		}
		st := "retired"
		if isActive {
			st = "active"
			l.signer = signer
		}
		l.keys = append(l.keys, Key{KID: signer.KeyID(), Algorithm: license.AlgEd25519,
			PublicKey: license.MarshalPublicKey(signer.PublicKey()), Status: st, CreatedAt: fi.ModTime().UTC()})
		pubs = append(pubs, signer.PublicKey())
	}
	if s.File != "" {
		priv, fi, err := readKey(s.File)
		if err != nil {
			return nil, err
		}
		add(priv, fi, true)
	}
	entries, err := readDir(s.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		kid, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		priv, fi, err := readKey(filepath.Join(s.Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if license.NewSigner(priv).KeyID() != kid {
			return nil, fmt.Errorf("key file %s holds key %s, not %s", e.Name(), license.NewSigner(priv).KeyID(), kid)
		}
		add(priv, fi, s.File == "" && kid == active)
	}
	sort.SliceStable(l.keys, func(i, j int) bool {
		if (l.keys[i].Status == "active") != (l.keys[j].Status == "active") {
			return l.keys[i].Status == "active"
		}
		return l.keys[i].CreatedAt.After(l.keys[j].CreatedAt)
	})
	if len(pubs) > 0 {
		if l.keyring, err = license.NewKeyring(pubs...); err != nil {
			return nil, err
		}
	}
	s.cached, s.stamp = l, stamp
	return l, nil
}

// List lists the keys, the active one first.
func (s *Store) List() ([]Key, error) {
	l, err := s.load()
	if err != nil {
		return nil, err
	}
	return l.keys, nil
}

// Signer is the active key. It fails if there is none.
func (s *Store) Signer() (*license.Signer, error) {
	l, err := s.load()
	if err != nil {
		return nil, err
	}
	if l.signer == nil {
		return nil, errors.New("no active license signing key: run `fulfill keys generate`")
	}
	return l.signer, nil
}

// Keyring trusts every key in the store, active and retired.
func (s *Store) Keyring() (*license.Keyring, error) {
	l, err := s.load()
	if err != nil {
		return nil, err
	}
	if l.keyring == nil {
		return license.NewKeyring()
	}
	return l.keyring, nil
}

// Generate creates a new key. It becomes active if no key is active yet
// (or if activate is set).
func (s *Store) Generate(activate bool) (string, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return "", err
	}
	signer, err := license.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	kid := signer.KeyID()
	// Written aside and renamed into place: another process (a copy of the
	// server sharing the folder) never reads a half-written key.
	path := filepath.Join(s.Dir, kid+".key")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // after a failure; gone after the rename
	if _, err := f.Write(license.MarshalPrivateKey(signer.PrivateKey())); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	if !activate {
		if cur, err := s.Signer(); err == nil && cur != nil {
			return kid, nil
		}
	}
	return kid, s.activate(kid)
}

func (s *Store) activate(kid string) error {
	tmp := filepath.Join(s.Dir, activeFile+"."+kid+".tmp") // a name of its own: copies may activate at once
	if err := os.WriteFile(tmp, []byte(kid+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, activeFile))
}

// Rotate generates a new active key; the old one stays trusted, retired.
func (s *Store) Rotate() (newKID, oldKID string, err error) {
	if s.File != "" {
		return "", "", errors.New("the active key comes from a file named by the environment; rotate it there")
	}
	if cur, err := s.Signer(); err == nil {
		oldKID = cur.KeyID()
	}
	newKID, err = s.Generate(true)
	return newKID, oldKID, err
}

// Remove deletes a retired key: licenses it signed stop verifying.
func (s *Store) Remove(kid string) error {
	if cur, err := s.Signer(); err == nil && cur.KeyID() == kid {
		return fmt.Errorf("key %s is the active key; rotate first", kid)
	}
	if strings.ContainsAny(kid, `/\.`) || kid == "" {
		return fmt.Errorf("%q is not a key id", kid)
	}
	err := os.Remove(filepath.Join(s.Dir, kid+".key"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no key %s in %s", kid, s.Dir)
	}
	return err
}
