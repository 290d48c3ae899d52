package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/fulfillhq/fulfill/license"
)

const keysUsage = `Usage: fulfill keys COMMAND [--data-dir DIR] [--keys-dir DIR]

  generate       create a key (it becomes active if none is)
  list           list the keys: id, status, created
  rotate         create a new active key; the old one stays trusted
  remove KID     remove a retired key: licenses it signed stop verifying

Keys live in DIR/keys (mode 0600), or in --keys-dir (FULFILL_SIGNING_KEY_DIR).
FULFILL_SIGNING_KEY_FILE names an external active key instead. Every copy of
the server on one database needs the same keys; they are never stored in the
database.
`

func keysCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return usageError{"keys: no command given"}
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fs, c := flags("keys "+args[0], stderr, getenv)
	fs.Usage = func() { fmt.Fprint(fs.Output(), keysUsage) }
	pos, err := parseAnywhere(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	ks := c.keyStore()
	switch args[0] {
	case "generate":
		kid, err := ks.Generate(false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "generated key %s in %s\n", kid, ks.Dir)
	case "list":
		list, err := ks.List()
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no keys: run `fulfill keys generate`")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tSTATUS\tCREATED\tPUBLIC KEY")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.Status, k.CreatedAt.Format(time.DateTime), k.PublicKey)
		}
		return tw.Flush()
	case "rotate":
		nk, old, err := ks.Rotate()
		if err != nil {
			return err
		}
		if old == "" {
			fmt.Fprintf(stdout, "generated active key %s\n", nk)
		} else {
			fmt.Fprintf(stdout, "active key is now %s; %s is retired and still trusted until removed\n", nk, old)
		}
	case "remove":
		if len(pos) != 1 {
			return usageError{"keys remove: give the key id to remove"}
		}
		if err := ks.Remove(pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed key %s\n", pos[0])
	default:
		fmt.Fprint(stderr, keysUsage)
		return usageError{fmt.Sprintf("keys: unknown command %q", args[0])}
	}
	return nil
}

const licenseUsage = `Usage: fulfill license verify FILE [--data-dir DIR] [--public-key fulfill-ed25519-public:…]

Verifies a license file offline with the data directory's keys (or the
public key given) and shows what it grants.
`

func licenseCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, licenseUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, licenseUsage)
		return usageError{"license: want `license verify FILE`"}
	}
	fs, c := flags("license verify", stderr, getenv)
	setUsage(fs, licenseUsage)
	pub := fs.String("public-key", "", "verify with this public key instead of the data directory's keys")
	at := fs.String("now", "", "verify as of this date (YYYY-MM-DD), for licenses from a server on a simulated clock")
	pos, err := parseAnywhere(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"license verify: give one license file"}
	}
	file := pos[0]
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var ring *license.Keyring
	if *pub != "" {
		k, err := license.ParsePublicKey(*pub)
		if err != nil {
			return usageError{"--public-key: " + err.Error()}
		}
		if ring, err = license.NewKeyring(k); err != nil {
			return err
		}
	} else if ring, err = c.keyStore().Keyring(); err != nil {
		return err
	}
	if len(ring.KeyIDs()) == 0 {
		return errors.New("no trusted keys: pass --public-key or --data-dir of a server")
	}
	now := time.Now()
	if *at != "" {
		d, err := time.Parse(time.DateOnly, *at)
		if err != nil {
			return usageError{"--now: want YYYY-MM-DD"}
		}
		now = d.Add(12 * time.Hour)
	}
	p, err := ring.Verify(data, now)
	if err != nil {
		return fmt.Errorf("%s does not verify: %w", file, err)
	}
	st := p.Check(now, 0, 0)
	fmt.Fprintf(stdout, "%s: valid signature\n  license   %s (v%d)\n  licensee  %s <%s>, %s\n  plan      %s, %d seats\n  term      %s to %s\n  state     %s\n",
		file, p.ID, p.Version, p.Licensee.Name, p.Licensee.Email, p.Licensee.Company, p.Plan, p.Seats, p.StartsAt, p.ExpiresAt, st.State)
	return nil
}

// parseAnywhere parses flags that may come before or after positional
// arguments ("verify FILE --public-key K"), returning the positionals.
// With -h it prints the usage to stdout and returns flag.ErrHelp.
func parseAnywhere(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, stdout); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
