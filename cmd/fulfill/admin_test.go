package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/fulfillhq/fulfill/store"
	"github.com/fulfillhq/fulfill/web"
)

// The first admin comes from the command line; the password is generated
// and printed once unless FULFILL_ADMIN_PASSWORD gives it.
func TestAdminCreateUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := Main(ctx, []string{"admin", "create-user", "--data-dir", dir, "--email", "Ops@Vendor.example", "--role", "support"},
		&out, &errOut, env(nil))
	if err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	m := regexp.MustCompile(`Password \(shown once\): (\S+)`).FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "Created support ops@vendor.example") {
		t.Fatalf("output %q", out.String())
	}
	db, err := store.Open(ctx, dir+"/fulfill.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByEmail(ctx, "ops@vendor.example")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "support" || u.ConfirmedAt == nil || !web.CheckPassword(u.PasswordHash, m[1]) {
		t.Fatalf("user %+v", u)
	}
	// A real command hashes at OWASP's argon2id minimum (web's tests hash
	// cheaply, by their own choice).
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(u.PasswordHash, want) {
		t.Fatalf("stored hash %.40s…, want one made at %s", u.PasswordHash, want)
	}
	// The same email twice is refused; a bad role is a usage error (exit 2).
	if err := Main(ctx, []string{"admin", "create-user", "--data-dir", dir, "--email", "ops@vendor.example"}, &out, &errOut, env(nil)); err == nil {
		t.Fatal("duplicate staff account created")
	}
	err = Main(ctx, []string{"admin", "create-user", "--data-dir", dir, "--email", "x@vendor.example", "--role", "root"}, &out, &errOut, env(nil))
	if exitCode(err) != 2 {
		t.Fatalf("bad role: %v", err)
	}
}
