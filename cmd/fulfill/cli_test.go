package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every command and subcommand prints its usage to standard output on -h
// and --help and succeeds; help TOPIC is TOPIC -h.
func TestEveryCommandHelpExitsZeroWithUsage(t *testing.T) {
	t.Parallel()
	commands := [][]string{
		{"serve"}, {"migrate"}, {"keys"}, {"keys", "generate"}, {"keys", "list"}, {"keys", "rotate"}, {"keys", "remove"},
		{"license"}, {"license", "verify"}, {"instance"}, {"instance", "activate"}, {"instance", "sync"},
		{"instance", "export-usage"}, {"instance", "status"}, {"saas-receiver"}, {"billing"}, {"billing", "run"},
		{"import"}, {"export"}, {"admin"}, {"admin", "create-user"}, {"loadtest"}, {"probe"}, {"backup"}, {"restore"},
		{"migrate-data"}, {"version"}, {"bench"},
	}
	type helpCase struct {
		args []string
		want string
	}
	var cases []helpCase
	for _, cmd := range commands {
		want := "fulfill " + strings.Join(cmd, " ")
		if len(cmd) > 1 && cmd[0] != "instance" {
			want = "fulfill " + cmd[0] // one usage for the command's subcommands
		}
		for _, h := range []string{"-h", "--help"} {
			cases = append(cases, helpCase{append(append([]string{}, cmd...), h), want})
		}
		cases = append(cases, helpCase{append([]string{"help"}, cmd...), want})
	}
	for _, top := range []string{"-h", "--help", "help"} {
		cases = append(cases, helpCase{[]string{top}, "fulfill serve"})
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Main(context.Background(), c.args, &out, &errOut, env(nil))
			if err != nil {
				t.Fatalf("err = %v (exit %d), want success", err, exitCode(err))
			}
			if !strings.Contains(out.String(), "Usage") || !strings.Contains(out.String(), c.want) {
				t.Errorf("stdout has no usage naming %q:\n%s", c.want, out.String())
			}
			if errOut.Len() > 0 {
				t.Errorf("stderr not empty:\n%s", errOut.String())
			}
		})
	}
	var out bytes.Buffer
	if err := Main(context.Background(), []string{"version"}, &out, &out, env(nil)); err != nil || !strings.HasPrefix(out.String(), "fulfill ") ||
		!strings.Contains(out.String(), " go1.") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := Main(context.Background(), []string{"help", "frobnicate"}, &out, &out, env(nil)); exitCode(err) != 2 {
		t.Errorf("help of an unknown command: %v, want a usage error", err)
	}
}

// cliResult is the outcome of running fulfill in a process of its own.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runChild runs fulfill args as a real process in dir with only vars in its
// environment, as main does: the exit status and output are main's.
func runChild(t *testing.T, dir string, vars map[string]string, args ...string) cliResult {
	t.Helper()
	a, _ := json.Marshal(args)
	// A command that wrongly starts serving is stopped after a while.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = []string{"FULFILL_TEST_CHILD=1", "FULFILL_TEST_ARGS=" + string(a), "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cliResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// Issue 16, acceptance 3: an unknown database URL scheme, a country that is
// not ISO 3166-1 alpha-2 and a busy port each fail with one line and exit
// status 2, and leave no file behind (no SQLite file named mysql:/x, no key,
// no data directory).
func TestCommandLineMistakesFailInOneLineAndLeaveNoFile(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	port := busy.Addr().String()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"mysql database url", []string{"serve", "--database-url", "mysql://x"}, nil, `unknown scheme "mysql"`},
		{"mysql database url from the environment", []string{"serve"}, map[string]string{"FULFILL_DATABASE_URL": "mysql://x"}, `unknown scheme "mysql"`},
		{"mysql database url with a password", []string{"serve", "--database-url", "mysql://root:hunter2@db/x"}, nil, `unknown scheme "mysql"`},
		{"mysql database url for migrate", []string{"migrate", "--database-url", "mysql://x"}, nil, `unknown scheme "mysql"`},
		{"mysql database url for admin", []string{"admin", "create-user", "--email", "a@example.com", "--database-url", "mysql://x"}, nil, `unknown scheme "mysql"`},
		{"unknown seller country", []string{"serve", "--seller-country", "XX"}, nil, `--seller-country "XX"`},
		{"UK is no ISO code", []string{"serve", "--seller-country", "UK"}, nil, `--seller-country "UK"`},
		{"seller country from the environment", []string{"serve"}, map[string]string{"FULFILL_SELLER_COUNTRY": "Germany"}, `--seller-country "Germany"`},
		{"unknown seller country for billing run", []string{"billing", "run", "--seller-country", "XX"}, nil, `--seller-country "XX"`},
		{"renewal notice days not days", []string{"serve", "--renewal-notice-days", "30,soon"}, nil, `--renewal-notice-days: renewal notice days "30,soon"`},
		{"unknown billing mail kind", []string{"serve"}, map[string]string{"FULFILL_BILLING_MAIL_OFF": "invoice.issued,newsletter"}, `--billing-mail-off: unknown kind "newsletter"`},
		{"VIES url without scheme", []string{"serve", "--vies-url", "ec.europa.eu/vies"}, nil, `--vies-url "ec.europa.eu/vies": want an http:// or https:// URL`},
		{"VIES url from the environment", []string{"serve"}, map[string]string{"FULFILL_VIES_URL": "ftp://vies"}, `--vies-url "ftp://vies"`},
		{"VIES timeout of an hour", []string{"serve", "--vies-url", "https://vies.example", "--vies-timeout", "1h"}, nil, "--vies-timeout must be more than 0 and at most 1m"},
		{"busy port", []string{"serve", "--addr", port}, nil, "--addr " + port + ": "},
		{"busy metrics port", []string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", port}, nil, "--metrics-addr " + port + ": "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			got := runChild(t, dir, c.env, c.args...)
			if got.code != 2 {
				t.Errorf("exit status %d, want 2\nstderr: %s", got.code, got.stderr)
			}
			if lines := strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "fulfill: ") ||
				!strings.Contains(lines[0], c.want) {
				t.Errorf("stderr is not one line saying %q:\n%s", c.want, got.stderr)
			}
			if strings.Contains(got.stderr, "hunter2") {
				t.Errorf("the error shows the password: %s", got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout: %q", got.stdout)
			}
			var left []string
			filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
				if path != dir {
					left = append(left, strings.TrimPrefix(path, dir))
				}
				return nil
			})
			if len(left) > 0 {
				t.Errorf("files left behind: %v", left)
			}
		})
	}
	// A real help request through main: exit status 0, usage on stdout.
	got := runChild(t, t.TempDir(), nil, "keys", "-h")
	if got.code != 0 || !strings.Contains(got.stdout, "Usage: fulfill keys") || got.stderr != "" {
		t.Errorf("keys -h: exit %d\nstdout: %s\nstderr: %s", got.code, got.stdout, got.stderr)
	}
}
