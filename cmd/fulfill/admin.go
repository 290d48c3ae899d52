package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/fulfillhq/fulfill"
	"github.com/fulfillhq/fulfill/web"
)

const adminUsage = `Usage:
  fulfill admin create-user --email E [--name N] [--role admin|support|read_only]

Adds a staff account for the admin console at /admin. The password is read
from FULFILL_ADMIN_PASSWORD, or generated and printed once.
`

// adminCmd manages staff accounts; it is how the first admin is created.
func adminCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, adminUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "create-user" {
		fmt.Fprint(stderr, adminUsage)
		return usageError{"admin: want create-user"}
	}
	fs, c := flags("admin create-user", stderr, getenv)
	setUsage(fs, adminUsage)
	email := fs.String("email", "", "the staff member's email address (required)")
	name := fs.String("name", "", "the staff member's name")
	role := fs.String("role", "admin", "admin, support or read_only")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"admin create-user: --email is required"}
	}
	if !web.ValidRole(*role) {
		return usageError{fmt.Sprintf("admin create-user: --role %q: want admin, support or read_only", *role)}
	}
	password, generated := getenv("FULFILL_ADMIN_PASSWORD"), false
	if password == "" {
		var b [18]byte
		rand.Read(b[:])
		password, generated = base64.RawURLEncoding.EncodeToString(b[:]), true
	}
	db, err := c.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	u, err := web.CreateStaff(ctx, db, fulfill.ClockFunc(time.Now), *email, or(*name, *email), *role, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created %s %s (%s). Sign in at /admin/signin.\n", *role, u.Email, u.ID)
	if generated {
		fmt.Fprintf(stdout, "Password (shown once): %s\n", password)
	}
	return nil
}
