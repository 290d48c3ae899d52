package web

import "sync/atomic"

// PasswordHashCost is the argon2id cost of a new password hash.
type PasswordHashCost struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultPasswordHashCost is the cost every password is hashed at unless a
// test chose otherwise: OWASP's minimum for argon2id (19 MiB, 2 passes, 1
// lane), so a sign-in costs tens of milliseconds on a small box.
func DefaultPasswordHashCost() PasswordHashCost {
	return PasswordHashCost{Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}
}

// testPasswordCost, when set, replaces the default in this process.
var testPasswordCost atomic.Pointer[PasswordHashCost]

// UseCheapPasswordHashingInTests makes this process hash new passwords at
// argon2id's lowest cost (1 pass over 8 KiB): tests that sign up and sign
// in hundreds of times then spend no CPU on it. FOR TESTS ONLY: such a hash
// falls to a brute force in no time. Nothing but a test's TestMain calls
// it; a server always hashes at DefaultPasswordHashCost (cmd/fulfill's
// tests check the hash a real `fulfill admin` command stores). Hashes made
// at either cost verify in either mode: the cost is part of the hash.
func UseCheapPasswordHashingInTests() {
	testPasswordCost.Store(&PasswordHashCost{Time: 1, MemoryKiB: 8, Threads: 1})
}

// passwordCost is the cost of new hashes (and of the stand-in hash that
// an unknown account costs) in this process.
func passwordCost() PasswordHashCost {
	if c := testPasswordCost.Load(); c != nil {
		return *c
	}
	return DefaultPasswordHashCost()
}
