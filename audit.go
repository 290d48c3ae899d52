package fulfill

import (
	"encoding/json"
	"fmt"
	"time"
)

// NewAuditEntry builds an audit entry: the one place an audit row is made,
// its detail encoded as JSON by encoding/json (nil detail: {}). Services
// write it in the transaction of the change it records.
func NewAuditEntry(at time.Time, actor, action, subjectType, subjectID string, detail any, remote string) (*AuditEntry, error) {
	if detail == nil {
		detail = struct{}{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("audit %s: encode detail: %w", action, err)
	}
	return &AuditEntry{ID: NewID("aud"), At: at, Actor: actor, Action: action, SubjectType: subjectType, SubjectID: subjectID,
		Detail: string(b), RemoteAddr: remote}, nil
}
